#include "app/heap_trim.hpp"

#include <malloc.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace commsvc::app {
namespace {

// CPU time of the whole process so far.
std::chrono::nanoseconds processCpu() {
  timespec ts{};
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return {};
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

}  // namespace

std::size_t residentAnonymousBytes() {
  std::FILE* file = std::fopen("/proc/self/statm", "r");
  if (file == nullptr) return 0;
  unsigned long size = 0, resident = 0, shared = 0;
  const int read = std::fscanf(file, "%lu %lu %lu", &size, &resident, &shared);
  std::fclose(file);
  if (read != 3 || shared > resident) return 0;
  return static_cast<std::size_t>(resident - shared) *
         static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

std::size_t heapFreeBytes() { return mallinfo2().fordblks; }

bool trimDue(const HeapTrimSettings& settings, double busy, std::size_t anonGrowth,
             std::size_t freeGrowth) {
  return busy <= settings.maxBusy &&
         (anonGrowth >= settings.minGrowth || freeGrowth >= settings.minGrowth);
}

HeapTrimmer::HeapTrimmer(HeapTrimSettings settings)
    : settings_(settings),
      anonBaseline_(residentAnonymousBytes()),
      freeLow_(heapFreeBytes()),
      wall_(std::chrono::steady_clock::now()),
      cpu_(processCpu()) {}

std::size_t HeapTrimmer::check() {
  const auto wall = std::chrono::steady_clock::now();
  const auto cpu = processCpu();
  const double seconds = std::chrono::duration<double>(wall - wall_).count();
  const double busy = std::chrono::duration<double>(cpu - cpu_).count() / std::max(seconds, 1e-3);
  wall_ = wall;
  cpu_ = cpu;
  const std::size_t before = residentAnonymousBytes();
  const std::size_t free = heapFreeBytes();  // walks the free lists: every few seconds only
  // Shrank by itself / reused: growth counts from here.
  anonBaseline_ = std::min(anonBaseline_, before);
  freeLow_ = std::min(freeLow_, free);
  if (!trimDue(settings_, busy, before - anonBaseline_, free - freeLow_)) return 0;
  malloc_trim(0);
  const std::size_t after = residentAnonymousBytes();
  anonBaseline_ = after;
  freeLow_ = heapFreeBytes();
  return before > after ? before - after : 0;
}

}  // namespace commsvc::app
