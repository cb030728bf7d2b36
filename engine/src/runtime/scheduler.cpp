#include "runtime/scheduler.hpp"

#include <algorithm>

namespace commsvc::runtime {

Scheduler::Scheduler(Logger& logger) : logger_(logger) {}

Scheduler::~Scheduler() { stop(); }

void Scheduler::add(std::string name, std::chrono::milliseconds interval,
                    std::function<void()> job) {
  jobs_.push_back(
      {std::move(name), std::max(interval, std::chrono::milliseconds(1)), std::move(job), {}});
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
    if (wake_.wait_until(lock, due->next, [&] { return stopping_; })) break;
    if (std::chrono::steady_clock::now() < due->next) continue;
    lock.unlock();
    try {
      due->run();
    } catch (const std::exception& e) {
      logger_.error("scheduled job failed", {{"job", due->name}, {"error", e.what()}});
    } catch (...) {
      logger_.error("scheduled job failed", {{"job", due->name}, {"error", "unknown exception"}});
    }
    lock.lock();
    due->next = std::chrono::steady_clock::now() + due->interval;
  }
}

}  // namespace commsvc::runtime
