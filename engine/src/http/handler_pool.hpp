#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace commsvc::http {

/// A fixed set of threads running HTTP route handlers, with a bounded
/// queue: `threads` jobs run at once and at most `queueLimit` wait; past
/// that trySubmit() refuses, so an overloaded server answers at once
/// instead of piling up work. Thread-safe.
class HandlerPool {
 public:
  /// Starts `threads` (at least 1) worker threads.
  HandlerPool(std::size_t threads, std::size_t queueLimit);
  /// Drops queued jobs and joins the workers (waits for running jobs).
  ~HandlerPool();
  HandlerPool(const HandlerPool&) = delete;
  HandlerPool& operator=(const HandlerPool&) = delete;

  /// Queues `job` when a worker is free or the queue has room; false (job
  /// untouched, not run) when full or shut down.
  bool trySubmit(std::function<void()>& job);

  /// Stops taking jobs and waits until every accepted job finished or
  /// `deadline` passed; then drops the jobs still queued (destroyed
  /// unrun). Returns true when nothing was dropped and nothing runs; the
  /// workers are joined then, else by the destructor.
  bool shutdown(std::chrono::steady_clock::time_point deadline);

  /// Jobs running now.
  std::size_t running() const;
  /// Jobs waiting for a worker now.
  std::size_t queued() const;
  /// Worker threads.
  std::size_t threads() const { return threadCount_; }
  /// When a job last finished (or the pool was idle), for stall detection.
  std::chrono::steady_clock::time_point lastProgress() const;

 private:
  void work();
  void join();

  const std::size_t threadCount_;
  const std::size_t queueLimit_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;      // workers: a job or stop
  std::condition_variable finished_;  // shutdown(): a job finished
  std::deque<std::function<void()>> queue_;
  std::size_t running_ = 0;
  bool closed_ = false;    // no more jobs accepted
  bool stopping_ = false;  // workers exit when idle
  std::chrono::steady_clock::time_point lastProgress_ = std::chrono::steady_clock::now();
  std::vector<std::thread> workers_;
};

}  // namespace commsvc::http
