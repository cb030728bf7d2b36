#include "app/malloc_arenas.hpp"

#include <malloc.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace commsvc::app {

std::size_t mallocArenaCap(unsigned cores) { return std::max(4U, 2 * cores); }

std::size_t capMallocArenas() {
  if (std::getenv("MALLOC_ARENA_MAX") != nullptr) return 0;
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables != nullptr && std::strstr(tunables, "arena_max") != nullptr) return 0;
  const std::size_t cap = mallocArenaCap(std::thread::hardware_concurrency());
  // 1 on success; a replaced allocator (the sanitizers') ignores it.
  if (mallopt(M_ARENA_MAX, static_cast<int>(cap)) != 1) return 0;
  return cap;
}

}  // namespace commsvc::app
