#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "commsvc/logger.hpp"

namespace commsvc::runtime {

/// Runs periodic jobs (plugins' Context::schedule) on one thread. A job
/// never overlaps itself; an exception is logged and the job runs again at
/// its next interval.
class Scheduler {
 public:
  /// `logger` must outlive the scheduler.
  explicit Scheduler(Logger& logger);
  /// Stops and joins.
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  /// Adds a job; it first runs right after start(). Only before start().
  void add(std::string name, std::chrono::milliseconds interval, std::function<void()> job);
  /// Starts the thread (no-op without jobs).
  void start();
  /// Stops scheduling new runs and waits for a running job to finish.
  void stop();
  /// Number of jobs.
  std::size_t size() const { return jobs_.size(); }

 private:
  struct Job {
    std::string name;
    std::chrono::milliseconds interval;
    std::function<void()> run;
    std::chrono::steady_clock::time_point next;
  };

  void loop();

  Logger& logger_;
  std::vector<Job> jobs_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace commsvc::runtime
