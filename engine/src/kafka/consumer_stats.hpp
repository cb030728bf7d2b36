#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace commsvc::kafka {

/// One partition's consumer lag as librdkafka's statistics report it.
struct PartitionLag {
  std::int32_t partition = -1;
  /// Records between the committed offset and the partition's end (high
  /// watermark, or last stable offset under read_committed).
  std::int64_t lag = 0;

  bool operator==(const PartitionLag&) const = default;
};

/// The partitions of `topic` with a known consumer lag in `statsJson`, the
/// JSON document librdkafka hands its statistics callback
/// (statistics.interval.ms; fields in librdkafka's STATISTICS.md), ordered
/// by partition. Only partitions the consumer wants ("desired": true, i.e.
/// assigned to it) count: librdkafka keeps reporting a revoked partition
/// with its last, stale lag. Also skipped: the internal unassigned partition
/// (-1), partitions whose `consumer_lag` is -1 (unknown: nothing committed
/// yet, or no watermark yet) and entries whose fields have the wrong type. A
/// document without `topic` gives an empty list. Throws
/// std::invalid_argument when `statsJson` is not JSON or its "topics" member
/// is not an object.
std::vector<PartitionLag> parseConsumerLag(std::string_view statsJson, const std::string& topic);

}  // namespace commsvc::kafka
