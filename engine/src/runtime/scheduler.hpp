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
/// its next interval. A job can also be run early (trigger), and a job that
/// reports more work waiting runs again at once.
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
  /// Adds a job that returns true when more work is waiting: it then runs
  /// again at once (other due jobs first), else after `interval`.
  void addDraining(std::string name, std::chrono::milliseconds interval, std::function<bool()> job);
  /// Runs job `name` as soon as the thread is free (after its current run,
  /// when it is running); several triggers before it runs make one run.
  /// Unknown names are ignored. Any thread; never blocks on a job.
  void trigger(const std::string& name);
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
    std::function<bool()> run;  // true: more work waiting, run again at once
    std::chrono::steady_clock::time_point next;
    bool triggered = false;  // trigger() came while it was running
  };

  void loop();

  Logger& logger_;
  std::vector<Job> jobs_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool triggered_ = false;  // trigger() moved a waiting job's time
  std::thread thread_;
  const Job* running_ = nullptr;  // the job running now, guarded by mutex_
};

}  // namespace commsvc::runtime
