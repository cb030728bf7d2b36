#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace commsvc {

/// Exponential backoff with a ceiling and jitter, the one pause schedule of
/// every retry loop in the engine and the plugins. The n-th call of next()
/// returns a pause drawn uniformly from [d/2, d] where d = min(initial *
/// 2^(n-1), max) ("equal jitter"): doubling, capped, and never in lockstep
/// with other instances retrying the same thing. Not thread-safe (one per
/// retry loop).
class Backoff {
 public:
  /// Pauses start near `initial` and never exceed `max` (max < initial is
  /// treated as max = initial).
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max)
      : initial_(std::max<std::chrono::milliseconds::rep>(1, initial.count())),
        max_(std::max(initial_, max.count())),
        current_(initial_) {}

  /// The next pause; doubles the base for the call after, up to the ceiling.
  std::chrono::milliseconds next() {
    // Seeded on first use: a Backoff is made per handled record and most
    // never pause, while constructing a std::random_device took 40-50 us
    // here (a VM): it capped each worker at ~25k records/s.
    if (!seeded_) {
      random_.seed(std::random_device{}());
      seeded_ = true;
    }
    const auto base = current_;
    current_ = current_ >= max_ / 2 ? max_ : current_ * 2;
    std::uniform_int_distribution<std::chrono::milliseconds::rep> jitter(base - base / 2, base);
    return std::chrono::milliseconds(jitter(random_));
  }

  /// Starts over from `initial` (after a success).
  void reset() { current_ = initial_; }

  /// The ceiling of the pauses.
  std::chrono::milliseconds max() const { return std::chrono::milliseconds(max_); }

 private:
  std::chrono::milliseconds::rep initial_;
  std::chrono::milliseconds::rep max_;
  std::chrono::milliseconds::rep current_;
  std::minstd_rand random_;
  bool seeded_ = false;
};

}  // namespace commsvc
