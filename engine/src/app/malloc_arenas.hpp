#pragma once

// glibc's malloc gives threads that allocate at the same time arenas of
// their own, up to 8 per core, and memory freed in one arena serves only
// that arena. With the engine's ~40 threads (workers, HTTP, librdkafka)
// that scatters a burst's memory over up to 16 arenas on 2 cores (issue 11:
// 1.4-1.7 MB more resident after the Kafka benchmark than with 2-4 arenas;
// with 2, threads waited for each other's allocations: +3 % CPU per POST).

#include <cstddef>

namespace commsvc::app {

/// The arena cap for a machine with `cores` cores: two per core, at least
/// 4 (so threads rarely wait for each other's allocation).
std::size_t mallocArenaCap(unsigned cores);

/// Caps glibc's malloc arenas at mallocArenaCap(cores of this machine),
/// unless the environment sets MALLOC_ARENA_MAX or a GLIBC_TUNABLES
/// arena_max (glibc's own knobs, which win). Call first thing in main(),
/// before any thread starts. Returns the cap set, or 0 when none was (the
/// environment's is left in force, or the allocator is not glibc's).
std::size_t capMallocArenas();

}  // namespace commsvc::app
