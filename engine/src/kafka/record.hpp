#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "commsvc/event.hpp"

namespace commsvc::kafka {

/// Spare capacity KafkaSource reserves after every record value so that the
/// JSON parser can read it in place (simdjson's SIMDJSON_PADDING).
inline constexpr std::size_t kValuePadding = 64;

/// A consumed Kafka record, copied out of librdkafka memory.
struct Record {
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::string key;
  std::string value;
  std::vector<Header> headers;
};

/// A partition's position: the offset of the next record to read.
struct PartitionOffset {
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
};

}  // namespace commsvc::kafka
