#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "commsvc/logger.hpp"
#include "commsvc/metrics.hpp"
#include "kafka/consumer.hpp"
#include "runtime/dispatcher.hpp"
#include "runtime/partition_tracker.hpp"

namespace commsvc::runtime {

/// How the consumer loop polls, commits and bounds its work.
struct ConsumerLoopSettings {
  std::size_t maxInFlight = 10000;                   ///< dispatched, not yet committed
  std::chrono::milliseconds commitInterval{200};     ///< how often stored offsets are committed
  std::size_t pollBatch = 1000;                      ///< records taken per poll
  std::chrono::milliseconds shutdownTimeout{10000};  ///< bound on draining at stop
  /// How long the in-flight window may stay full before the partitions are
  /// paused (last resort: a pause purges librdkafka's prefetch queue).
  std::chrono::milliseconds pauseAfter{500};
  /// The longest librdkafka's prefetched records may take to work through at
  /// the current dispatch rate before the partitions are paused (bounds how
  /// long a rebalance callback queued behind them waits).
  std::chrono::milliseconds maxBacklogWait{5000};
};

/// What a consumer loop did, for benchmarks and tests.
struct ConsumerLoopStats {
  std::uint64_t pauses = 0;      ///< times the partitions were paused (last resort)
  std::size_t peakInFlight = 0;  ///< most records dispatched and not yet committed at once
  std::size_t peakHeld = 0;      ///< most records polled, not dispatched, at once
  std::uint64_t commits = 0;     ///< offset commits sent
  /// Sum and maximum of the time from sending a commit to its answer.
  std::chrono::steady_clock::duration commitWaitTotal{}, commitWaitMax{};
};

/// The poll loop: takes records from Kafka, hands them to the dispatcher,
/// stores each partition's offset up to its last contiguous finished record
/// and commits it. It never waits on a handler. At most `maxInFlight`
/// records are dispatched and not yet committed, so a crash redelivers at
/// most `maxInFlight` records; records beyond that stay in librdkafka's
/// prefetch queue (not taken, not purged) while the loop waits for commits.
/// Only when the handlers do not keep up (the window stays full for
/// `pauseAfter`, or the prefetched records would take longer than
/// `maxBacklogWait` to work through) are the partitions paused, which purges
/// the prefetch queue so rebalances are served; they are resumed once at
/// most half of `maxInFlight` is in flight or held.
class ConsumerLoop final : public kafka::RebalanceListener {
 public:
  /// Creates the Kafka consumer from `properties` (bootstrap, group, ...)
  /// subscribed to `topic`. Throws std::runtime_error when refused.
  ConsumerLoop(const kafka::Properties& properties, std::string topic, Dispatcher& dispatcher,
               ConsumerLoopSettings settings, Logger& logger, Metrics& metrics);
  ~ConsumerLoop() override;

  /// Consumes until `stop` is true, then stops polling, lets in-flight work
  /// finish within the shutdown bound, commits and leaves the group.
  /// Says whether all dispatched work finished within the bound.
  DrainResult run(const std::atomic<bool>& stop);
  /// When run() saw the stop request (the start of the shutdown bound).
  std::chrono::steady_clock::time_point stopObservedAt() const { return stopObservedAt_; }
  /// What the loop did so far. Polling thread only (or after run() returned).
  const ConsumerLoopStats& stats() const { return stats_; }

 private:
  using PartitionKey = std::pair<std::string, std::int32_t>;

  // RebalanceListener: called by the source inside poll().
  void onAssigned(const std::vector<kafka::PartitionOffset>& partitions) override;
  void onRevoked(const std::vector<kafka::PartitionOffset>& partitions) override;
  void onCommitted(const std::vector<kafka::PartitionOffset>& offsets,
                   const std::string& error) override;

  void pollAndDispatch();
  void storeFinished();
  void maybeCommit(bool force);
  void applyFlowControl();
  std::vector<kafka::PartitionOffset> assigned() const;
  std::shared_ptr<PartitionTracker>& trackerFor(const std::string& topic, std::int32_t partition);

  Dispatcher& dispatcher_;
  ConsumerLoopSettings settings_;
  Logger& logger_;
  Counter& commits_;
  Counter& pauses_;
  std::unique_ptr<kafka::KafkaSource> source_;

  std::map<PartitionKey, std::shared_ptr<PartitionTracker>> trackers_;
  std::vector<kafka::Record> batch_;  // what the last poll returned
  std::deque<kafka::Record> held_;    // polled while paused, waiting for room
  std::vector<WorkItem> items_;
  std::size_t uncommitted_ = 0;
  bool storedSinceCommit_ = false;
  std::deque<std::chrono::steady_clock::time_point> commitsSent_;  // unanswered, oldest first
  bool paused_ = false;
  bool windowFull_ = false;  // the last poll found no room under max_in_flight
  std::optional<std::chrono::steady_clock::time_point> windowFullSince_;
  // The dispatch rate, counted per second while not paused.
  std::chrono::steady_clock::time_point secondStart_;
  std::size_t dispatchedThisSecond_ = 0;
  bool pausedThisSecond_ = false;
  std::chrono::steady_clock::time_point lastCommit_;
  std::chrono::steady_clock::time_point stopObservedAt_;
  ConsumerLoopStats stats_;
};

}  // namespace commsvc::runtime
