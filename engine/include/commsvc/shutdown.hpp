#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace commsvc {

/// The engine's stop signal, offered to plugins through Context::shutdown().
/// Long-running plugin work (a queue batch, a retry loop) checks it between
/// units of work and stops early once shutdown is requested, finishing what
/// it has begun by deadline(). Thread-safe.
class Shutdown {
 public:
  using Clock = std::chrono::steady_clock;

  /// True once shutdown was requested.
  bool requested() const {
    std::lock_guard lock(mutex_);
    return requested_;
  }

  /// When work already begun must be finished: the engine's shutdown bound
  /// from the moment shutdown was requested; Clock::time_point::max() before.
  Clock::time_point deadline() const {
    std::lock_guard lock(mutex_);
    return deadline_;
  }

  /// Sleeps for `pause` or until shutdown is requested, whichever is first;
  /// returns requested().
  bool sleepFor(std::chrono::milliseconds pause) const {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, pause, [this] { return requested_; });
    return requested_;
  }

  /// Requests shutdown with work to be finished by `deadline` (the engine
  /// calls this; a second call keeps the earlier deadline).
  void request(Clock::time_point deadline) {
    {
      std::lock_guard lock(mutex_);
      if (!requested_ || deadline < deadline_) deadline_ = deadline;
      requested_ = true;
    }
    changed_.notify_all();
  }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  bool requested_ = false;
  Clock::time_point deadline_ = Clock::time_point::max();
};

}  // namespace commsvc
