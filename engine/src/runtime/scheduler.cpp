#include "runtime/scheduler.hpp"

#include <algorithm>

namespace commsvc::runtime {

Scheduler::Scheduler(Logger& logger) : logger_(logger) {}

Scheduler::~Scheduler() { stop(); }

void Scheduler::add(std::string name, std::chrono::milliseconds interval,
                    std::function<void()> job) {
  addDraining(std::move(name), interval, [job = std::move(job)] {
    job();
    return false;
  });
}

void Scheduler::addDraining(std::string name, std::chrono::milliseconds interval,
                            std::function<bool()> job) {
  jobs_.push_back(
      {std::move(name), std::max(interval, std::chrono::milliseconds(1)), std::move(job), {}});
}

void Scheduler::trigger(const std::string& name) {
  {
    std::lock_guard lock(mutex_);
    const auto job =
        std::find_if(jobs_.begin(), jobs_.end(), [&](const Job& j) { return j.name == name; });
    if (job == jobs_.end()) return;
    if (&*job == running_) {
      job->triggered = true;
    } else {
      job->next = std::min(job->next, std::chrono::steady_clock::now());
      triggered_ = true;
    }
  }
  wake_.notify_all();
}

void Scheduler::start() {
  if (jobs_.empty() || thread_.joinable()) return;
  const auto now = std::chrono::steady_clock::now();
  for (auto& job : jobs_) job.next = now;
  thread_ = std::thread([this] { loop(); });
}

void Scheduler::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Scheduler::loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    auto due = std::min_element(jobs_.begin(), jobs_.end(),
                                [](const Job& a, const Job& b) { return a.next < b.next; });
    wake_.wait_until(lock, due->next, [&] { return stopping_ || triggered_; });
    if (stopping_) break;
    if (triggered_) {
      triggered_ = false;
      continue;  // a job's time moved: look again
    }
    if (std::chrono::steady_clock::now() < due->next) continue;
    running_ = &*due;
    due->triggered = false;
    lock.unlock();
    bool more = false;
    try {
      more = due->run();
    } catch (const std::exception& e) {
      logger_.error("scheduled job failed", {{"job", due->name}, {"error", e.what()}});
    } catch (...) {
      logger_.error("scheduled job failed", {{"job", due->name}, {"error", "unknown exception"}});
    }
    lock.lock();
    running_ = nullptr;
    const auto now = std::chrono::steady_clock::now();
    due->next = more || due->triggered ? now : now + due->interval;
    due->triggered = false;
  }
}

}  // namespace commsvc::runtime
