#pragma once

// glibc's malloc keeps memory that a burst allocated and then freed (a
// Kafka backlog's records, a wave of requests) resident: only the top of
// the main heap goes back by itself. So after one burst the process stayed
// as large as at its peak (issue 11: 32 MB after the Kafka benchmark's
// burst, against 24 MB under HTTP load alone). The trimmer hands such
// memory back once the process is quiet again.

#include <chrono>
#include <cstddef>

namespace commsvc::app {

/// Resident anonymous memory of this process in bytes (/proc/self/statm:
/// resident minus file-backed pages), or 0 when it cannot be read.
std::size_t residentAnonymousBytes();

/// Bytes free inside malloc's arenas (mallinfo2's fordblks): memory the
/// process freed and glibc keeps, resident or not.
std::size_t heapFreeBytes();

/// When to trim (see HeapTrimmer).
struct HeapTrimSettings {
  /// Growth, in bytes, that makes a trim worth it: of the resident
  /// anonymous memory since the last trim, or of the heap's free bytes
  /// since their lowest point after it.
  std::size_t minGrowth = std::size_t{2} << 20;
  /// CPU the process used between two checks, in cores: above it, it is
  /// busy and nothing is trimmed.
  double maxBusy = 0.25;
};

/// The rule HeapTrimmer::check() applies: true when the process used at
/// most `settings.maxBusy` cores (`busy`) since the previous check and
/// either its resident anonymous memory grew by `anonGrowth` since the
/// last trim or the heap's free bytes grew by `freeGrowth` since their
/// lowest point after it, by at least `settings.minGrowth`.
bool trimDue(const HeapTrimSettings& settings, double busy, std::size_t anonGrowth,
             std::size_t freeGrowth);

/// Returns freed heap memory to the system (malloc_trim) once the process
/// has some to give and is quiet (trimDue). Both signals are needed: a
/// burst between two checks that reuses freed memory shows only as
/// resident growth; a trim while a burst's memory was still in use (a
/// process busy on I/O looks quiet) gives little back, and the memory
/// freed after it shows only as free heap. Never while busy: a trim holds
/// malloc's locks for milliseconds (~6 ms for 32 MB of small blocks), and
/// memory a steady load keeps reusing would only be faulted in again. Not
/// thread-safe: one thread calls check(), every few seconds.
class HeapTrimmer {
 public:
  /// A trimmer whose first check() measures from now.
  explicit HeapTrimmer(HeapTrimSettings settings = {});

  /// Trims when due; returns the resident anonymous bytes given back (0
  /// when it did not trim or nothing went back).
  std::size_t check();

 private:
  const HeapTrimSettings settings_;
  std::size_t anonBaseline_;                    // resident anonymous bytes after the last trim
  std::size_t freeLow_;                         // lowest free heap bytes since the last trim
  std::chrono::steady_clock::time_point wall_;  // at the previous check
  std::chrono::nanoseconds cpu_;                // process CPU at the previous check
};

}  // namespace commsvc::app
