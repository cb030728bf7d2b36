#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace commsvc::runtime {

/// Tracks the records of one partition between dispatch and commit, so that
/// the offset stored for commit never passes a record that is not finished.
///
/// Threads: dispatched(), advance(), committed() and the counts belong to
/// the polling thread; finished() may be called from any worker thread.
class PartitionTracker {
 public:
  /// A tracker for `topic`/`partition`.
  PartitionTracker(std::string topic, std::int32_t partition);

  /// The record at `offset` was handed to a worker. Offsets must increase.
  void dispatched(std::int64_t offset);
  /// The record at `offset` is done (handled, skipped or dead-lettered).
  /// Thread-safe.
  void finished(std::int64_t offset);
  /// Takes in the finished records and returns the new position to store
  /// (last offset of the contiguous finished prefix + 1) when it moved.
  std::optional<std::int64_t> advance();
  /// The broker acknowledged a commit of `position`: records below it are
  /// forgotten.
  void committed(std::int64_t position);

  /// Records dispatched and not yet committed (bounded by max_in_flight).
  std::size_t uncommitted() const { return offsets_.size(); }
  /// Records dispatched and not yet finished, as of the last advance().
  std::size_t unfinished() const { return offsets_.size() - finishedPrefix_; }
  /// The position last returned by advance(), or -1.
  std::int64_t storedPosition() const { return stored_; }

  /// Marks the partition as taken away: workers skip its queued records
  /// (they will be redelivered to the new owner).
  void revoke() { revoked_.store(true, std::memory_order_release); }
  /// True once revoke() was called.
  bool revoked() const { return revoked_.load(std::memory_order_acquire); }
  /// A worker starts handling a record of this partition; false (and not
  /// counted) when the partition was revoked. Pair with leave().
  bool enter() {
    active_.fetch_add(1);
    if (!revoked_.load()) return true;
    active_.fetch_sub(1);
    return false;
  }
  /// The worker is done with the record it entered for.
  void leave() { active_.fetch_sub(1); }
  /// Records being handled right now.
  int active() const { return active_.load(); }

  /// The partition's topic.
  const std::string& topic() const { return topic_; }
  /// The partition number.
  std::int32_t partition() const { return partition_; }

 private:
  std::string topic_;
  std::int32_t partition_;
  std::atomic<bool> revoked_{false};
  std::atomic<int> active_{0};

  std::mutex inboxMutex_;
  std::vector<std::int64_t> inbox_;  // finished offsets not yet taken in

  std::deque<std::int64_t> offsets_;  // dispatched, not committed, increasing
  std::deque<bool> done_;             // parallel to offsets_
  std::size_t finishedPrefix_ = 0;    // leading entries of done_ that are true
  std::int64_t stored_ = -1;
};

}  // namespace commsvc::runtime
