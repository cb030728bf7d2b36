#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
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
};

/// What a consumer loop did, for benchmarks and tests.
struct ConsumerLoopStats {
  std::uint64_t pauses = 0;      ///< times the partitions were paused (last resort)
  std::size_t peakInFlight = 0;  ///< most records dispatched and not yet committed at once
  std::size_t peakHeld = 0;      ///< most records polled and held back at once
  std::uint64_t commits = 0;     ///< offset commits sent
};

/// The poll loop: takes records from Kafka, hands them to the dispatcher,
/// stores each partition's offset up to its last contiguous finished record
/// and commits it. It never waits on a handler: when `maxInFlight` records
/// are dispatched but not committed, further records are held back
/// unprocessed (and past another `maxInFlight` held, the partitions are
/// paused) while polling goes on, so the group session stays alive, until
/// commits catch up. So a crash redelivers at most `maxInFlight` records.
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
  std::deque<kafka::Record> held_;    // polled, waiting for room under max_in_flight
  std::vector<WorkItem> items_;
  std::size_t uncommitted_ = 0;
  bool storedSinceCommit_ = false;
  bool commitInFlight_ = false;
  bool paused_ = false;
  std::chrono::steady_clock::time_point lastCommit_;
  std::chrono::steady_clock::time_point stopObservedAt_;
  ConsumerLoopStats stats_;
};

}  // namespace commsvc::runtime
