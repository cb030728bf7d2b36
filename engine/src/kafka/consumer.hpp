#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "commsvc/logger.hpp"
#include "commsvc/metrics.hpp"
#include "kafka/client_config.hpp"
#include "kafka/record.hpp"

namespace commsvc::kafka {

/// Told about the consumer group's decisions. Called on the polling thread,
/// from inside KafkaSource::poll.
class RebalanceListener {
 public:
  virtual ~RebalanceListener() = default;
  /// Partitions were assigned to this member (offsets are -1001 = stored/committed position).
  virtual void onAssigned(const std::vector<PartitionOffset>& partitions) = 0;
  /// Partitions are being taken away. The listener stores the final offsets
  /// it wants committed (KafkaSource::store) before returning; the source
  /// then commits synchronously and unassigns.
  virtual void onRevoked(const std::vector<PartitionOffset>& partitions) = 0;
  /// An asynchronous commit finished: `offsets` are the positions of the
  /// partitions that did commit; `error` says what failed (empty when
  /// nothing did). A commit with nothing stored reports no offsets and no
  /// error.
  virtual void onCommitted(const std::vector<PartitionOffset>& offsets,
                           const std::string& error) = 0;
};

/// A KafkaConsumer (consumer group member) on one topic, with automatic
/// offset storing off: only offsets passed to store() are ever committed.
/// Not thread-safe: one polling thread owns it.
class KafkaSource {
 public:
  /// Throughput and timeout defaults (auto.offset.reset=earliest, raised
  /// queued.min.messages / queued.max.messages.kbytes, socket timeouts) come
  /// first; `properties` are applied over them (bootstrap.servers, group.id,
  /// security, tuning); the source then forces enable.auto.offset.store=false and
  /// enable.auto.commit=false (logging a warning if they were set otherwise).
  /// With `metrics` (which must outlive the source), librdkafka's statistics
  /// are on (statistics.interval.ms, default 5000 here; 0 in `properties`
  /// turns them off) and give the gauges consumer_lag{partition}: per
  /// assigned partition of `topic`, records between the committed offset
  /// and the partition's end, set on the polling thread at each interval; 0
  /// for a partition no longer assigned or whose lag is unknown (nothing
  /// committed yet). Failed commits count in offset_commit_failures_total.
  /// Throws std::runtime_error when the configuration is refused.
  KafkaSource(const Properties& properties, std::string topic, RebalanceListener& listener,
              Logger& logger, Metrics* metrics = nullptr);
  ~KafkaSource();
  KafkaSource(const KafkaSource&) = delete;
  KafkaSource& operator=(const KafkaSource&) = delete;

  /// Appends up to `max` records to `out`, waiting at most `timeout` for the
  /// first. Serves rebalance and commit callbacks. Consumer errors are
  /// logged, not thrown. Returns the number appended. With `max` 0 it takes
  /// no record (they stay in librdkafka's prefetch queue, which is not
  /// purged) and only serves answers to asynchronous commits, waiting at most
  /// `timeout` for the first; rebalance callbacks then wait for a poll that
  /// takes records.
  std::size_t poll(std::vector<Record>& out, std::size_t max, std::chrono::milliseconds timeout);
  /// Records (and callbacks) librdkafka has prefetched and poll() has not
  /// taken yet.
  std::size_t queued() const;
  /// Stores offsets (the next offset to read, i.e. last handled + 1) for commit.
  void store(const std::vector<PartitionOffset>& offsets);
  /// Commits the stored offsets; asynchronous ones report via onCommitted.
  /// Returns false (and logs) when a synchronous commit failed.
  bool commit(bool async);
  /// Stops fetching from these partitions (poll keeps serving the group).
  void pause(const std::vector<PartitionOffset>& partitions);
  /// Resumes fetching from these partitions.
  void resume(const std::vector<PartitionOffset>& partitions);
  /// Commits stored offsets synchronously and leaves the group. Idempotent.
  void close();

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace commsvc::kafka
