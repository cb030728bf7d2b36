#pragma once

// Runs the jobs of concurrent callers together, so that N requests arriving
// at once cost one database transaction instead of N (issue 11: PostgreSQL
// spends most of a small write on the transaction, not on the row).

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <utility>
#include <vector>

namespace commsvc::plugins::api {

/// Combines the jobs of callers that arrive while earlier jobs run: each
/// caller blocks in run() until its job is done; a caller that finds fewer
/// than `maxRunning` batches running takes the jobs waiting (its own
/// first, then the oldest; at most `maxBatch`) and runs them as one batch
/// on its thread.
/// So a lone caller runs at once, alone (no added latency), and callers
/// arriving under load share batches. Thread-safe.
template <typename Job, typename Result>
class Combiner {
 public:
  /// A job of a batch, and what became of it.
  struct Entry {
    Job job;                       ///< the caller's job
    std::optional<Result> result;  ///< set by the batch when the job succeeded
    std::exception_ptr error;      ///< set by the batch when the job failed
  };
  /// Runs `batch` and sets each entry's result or error. When it throws, every entry it left unset
  /// fails with that exception.
  using RunBatch = std::function<void(std::span<Entry* const> batch)>;

  /// A combiner running at most `maxRunning` batches (at least 1) of at
  /// most `maxBatch` jobs (at least 1) at once through `runBatch`.
  Combiner(std::size_t maxBatch, std::size_t maxRunning, RunBatch runBatch)
      : maxBatch_(std::max<std::size_t>(maxBatch, 1)),
        maxRunning_(std::max<std::size_t>(maxRunning, 1)),
        runBatch_(std::move(runBatch)) {}

  /// Runs `job` (alone or in a batch with others') and returns its result;
  /// rethrows its error.
  Result run(Job job) {
    Waiter self{{std::move(job), std::nullopt, nullptr}};
    // Room for a batch this caller may lead, taken before anything is
    // shared: nothing below allocates, so no exception can strand a job
    // taken from the queue (its caller would wait forever).
    std::vector<Waiter*> batch;
    std::vector<Entry*> entries;
    batch.reserve(maxBatch_);
    entries.reserve(maxBatch_);
    std::unique_lock lock(mutex_);
    waiting_.push_back(&self);
    while (!self.done) {
      if (running_ >= maxRunning_ || waiting_.empty()) {
        self.wake.wait(lock);
        continue;
      }
      ++running_;
      takeBatch(self, batch, entries);
      wakeNextLeader();  // more waiting than one batch takes
      lock.unlock();
      runTaken(entries);
      lock.lock();
      for (Waiter* waiter : batch) {
        waiter->done = true;
        if (waiter != &self) waiter->wake.notify_one();
      }
      --running_;
      wakeNextLeader();
    }
    lock.unlock();
    if (self.entry.error) std::rethrow_exception(self.entry.error);
    return std::move(*self.entry.result);
  }

  /// Jobs waiting for a batch to take them (for tests and metrics).
  std::size_t waiting() const {
    std::lock_guard lock(mutex_);
    return waiting_.size();
  }

 private:
  struct Waiter {
    Entry entry;
    bool done = false;             // guarded by mutex_
    std::condition_variable wake;  // done, or may lead a batch
  };

  // Under the lock: lets the oldest waiting caller take a batch when one
  // more may run (only it is woken, not every caller waiting).
  void wakeNextLeader() {
    if (running_ < maxRunning_ && !waiting_.empty()) waiting_.front()->wake.notify_one();
  }

  // Under the lock: fills `batch` (and `entries`, their entries) with
  // `self` when still waiting and then the oldest waiting jobs, at most
  // maxBatch_ (their capacity), removed from waiting_.
  void takeBatch(Waiter& self, std::vector<Waiter*>& batch, std::vector<Entry*>& entries) {
    batch.clear();
    const auto own = std::find(waiting_.begin(), waiting_.end(), &self);
    if (own != waiting_.end()) {
      batch.push_back(&self);
      waiting_.erase(own);
    }
    while (batch.size() < maxBatch_ && !waiting_.empty()) {
      batch.push_back(waiting_.front());
      waiting_.pop_front();
    }
    entries.clear();
    for (Waiter* waiter : batch) entries.push_back(&waiter->entry);
  }

  // Without the lock: runs `entries` and makes sure each has an outcome.
  void runTaken(const std::vector<Entry*>& entries) {
    std::exception_ptr failure;
    try {
      runBatch_(std::span<Entry* const>(entries));
    } catch (...) {
      failure = std::current_exception();
    }
    for (Entry* entry : entries) {
      if (!entry->result && !entry->error) entry->error = failure ? failure : unrun_;
    }
  }

  const std::size_t maxBatch_;
  const std::size_t maxRunning_;
  const RunBatch runBatch_;
  // The error of a job its batch left without an outcome (made up front).
  const std::exception_ptr unrun_ =
      std::make_exception_ptr(std::logic_error("batch left a job unrun"));
  mutable std::mutex mutex_;
  std::deque<Waiter*> waiting_;  // guarded by mutex_
  std::size_t running_ = 0;      // batches running; guarded by mutex_
};

}  // namespace commsvc::plugins::api
