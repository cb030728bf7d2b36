#include "http/handler_pool.hpp"

#include <algorithm>

namespace commsvc::http {

using Clock = std::chrono::steady_clock;

HandlerPool::HandlerPool(std::size_t threads, std::size_t queueLimit)
    : threadCount_(std::max<std::size_t>(1, threads)), queueLimit_(queueLimit) {
  workers_.reserve(threadCount_);
  for (std::size_t i = 0; i < threadCount_; ++i) workers_.emplace_back([this] { work(); });
}

HandlerPool::~HandlerPool() {
  std::deque<std::function<void()>> dropped;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    stopping_ = true;
    dropped.swap(queue_);
  }
  wake_.notify_all();
  dropped.clear();  // outside the lock: a job's captures may do anything when destroyed
  join();
}

bool HandlerPool::trySubmit(std::function<void()>& job) {
  {
    std::lock_guard lock(mutex_);
    if (closed_ || queue_.size() + running_ >= threadCount_ + queueLimit_) return false;
    queue_.push_back(std::move(job));
  }
  wake_.notify_one();
  return true;
}

bool HandlerPool::shutdown(Clock::time_point deadline) {
  std::deque<std::function<void()>> dropped;
  bool idle;
  {
    std::unique_lock lock(mutex_);
    closed_ = true;
    idle = finished_.wait_until(lock, deadline, [&] { return queue_.empty() && running_ == 0; });
    dropped.swap(queue_);
    stopping_ = true;
  }
  wake_.notify_all();
  const bool nothingDropped = dropped.empty();
  dropped.clear();
  if (idle) join();
  return idle && nothingDropped;
}

std::size_t HandlerPool::running() const {
  std::lock_guard lock(mutex_);
  return running_;
}

std::size_t HandlerPool::queued() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

Clock::time_point HandlerPool::lastProgress() const {
  std::lock_guard lock(mutex_);
  return running_ == 0 ? Clock::now() : lastProgress_;
}

void HandlerPool::work() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping and nothing left
    auto job = std::move(queue_.front());
    queue_.pop_front();
    if (running_ == 0) lastProgress_ = Clock::now();  // busy from now on
    ++running_;
    lock.unlock();
    try {
      job();
    } catch (...) {
      // Jobs handle their own errors; nothing may escape a worker.
    }
    job = nullptr;  // release captures before reporting progress
    lock.lock();
    --running_;
    lastProgress_ = Clock::now();
    finished_.notify_all();
  }
}

void HandlerPool::join() {
  for (auto& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
}

}  // namespace commsvc::http
