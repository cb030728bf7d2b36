// capMallocArenas (engine/src/app/malloc_arenas): threads allocating at
// once share at most the capped number of glibc malloc arenas.

#include "app/malloc_arenas.hpp"

#include <gtest/gtest.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include <cstdlib>
#include <latch>
#include <string>
#include <thread>
#include <vector>

namespace commsvc::app {
namespace {

// The arenas glibc has made so far: one <heap nr="..."> per arena in
// malloc_info's report.
std::size_t arenas() {
  char* text = nullptr;
  std::size_t size = 0;
  FILE* out = open_memstream(&text, &size);
  malloc_info(0, out);
  std::fclose(out);
  const std::string report(text, size);
  std::free(text);
  std::size_t count = 0;
  for (auto at = report.find("<heap nr="); at != std::string::npos;
       at = report.find("<heap nr=", at + 1)) {
    ++count;
  }
  return count;
}

TEST(MallocArenas, TwoPerCoreAndAtLeastFour) {
  EXPECT_EQ(mallocArenaCap(0), 4U);  // hardware_concurrency() may not know
  EXPECT_EQ(mallocArenaCap(1), 4U);
  EXPECT_EQ(mallocArenaCap(2), 4U);
  EXPECT_EQ(mallocArenaCap(16), 32U);
}

// Runs in a process of its own (ctest runs each test alone), before any
// other thread allocated. Without the cap each of the threads below gets
// an arena of its own (glibc allows 8 per core).
TEST(MallocArenas, ThreadsAllocatingAtOnceShareTheCappedArenas) {
  ::unsetenv("MALLOC_ARENA_MAX");
  ::unsetenv("GLIBC_TUNABLES");
  const std::size_t cap = capMallocArenas();
  if (cap == 0) GTEST_SKIP() << "malloc is not glibc's here (a sanitizer build)";
  ASSERT_EQ(cap, mallocArenaCap(std::thread::hardware_concurrency()));
  const std::size_t threads = cap + 10;
  std::latch allocated(static_cast<std::ptrdiff_t>(threads));
  std::latch counted(1);
  // Kept past the threads, so the compiler cannot drop malloc and free.
  std::vector<void*> blocks(threads);
  std::vector<std::thread> pool;
  for (std::size_t i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] {
      blocks[i] = std::malloc(1000);  // takes (or makes) this thread's arena
      allocated.count_down();
      counted.wait();  // alive until counted, so its arena stays taken
    });
  }
  allocated.wait();
  const std::size_t made = arenas();
  counted.count_down();
  for (auto& thread : pool) thread.join();
  for (void* block : blocks) std::free(block);
  EXPECT_GE(made, 1U);
  EXPECT_LE(made, cap);
}

TEST(MallocArenas, TheEnvironmentsSettingWins) {
  ::setenv("MALLOC_ARENA_MAX", "4", 1);
  EXPECT_EQ(capMallocArenas(), 0U);
  ::unsetenv("MALLOC_ARENA_MAX");
  ::setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=3", 1);
  EXPECT_EQ(capMallocArenas(), 0U);
  ::unsetenv("GLIBC_TUNABLES");
}

}  // namespace
}  // namespace commsvc::app
