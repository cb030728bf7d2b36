#pragma once

#include <librdkafka/rdkafka.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "commsvc/logger.hpp"

namespace commsvc::kafka {

/// RAII owners of librdkafka handles.
struct KafkaDeleter {
  void operator()(rd_kafka_t* p) const { rd_kafka_destroy(p); }
  void operator()(rd_kafka_conf_t* p) const { rd_kafka_conf_destroy(p); }
  void operator()(rd_kafka_topic_partition_list_t* p) const {
    rd_kafka_topic_partition_list_destroy(p);
  }
  void operator()(rd_kafka_queue_t* p) const { rd_kafka_queue_destroy(p); }
  void operator()(rd_kafka_message_t* p) const { rd_kafka_message_destroy(p); }
  void operator()(rd_kafka_headers_t* p) const { rd_kafka_headers_destroy(p); }
};
using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
using KafkaConf = std::unique_ptr<rd_kafka_conf_t, KafkaDeleter>;
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, KafkaDeleter>;
using KafkaQueue = std::unique_ptr<rd_kafka_queue_t, KafkaDeleter>;
using KafkaMessage = std::unique_ptr<rd_kafka_message_t, KafkaDeleter>;

/// librdkafka properties in the order they are applied (later ones win).
using Properties = std::vector<std::pair<std::string, std::string>>;

/// Builds a conf from `properties`; throws std::runtime_error naming the
/// property and librdkafka's message when one is unknown or invalid.
KafkaConf makeConf(const Properties& properties);

/// librdkafka's syslog levels (0 emerg .. 7 debug) as ours: the one mapping
/// of every client of the engine (consumer and producer log callbacks).
LogLevel logLevelOf(int syslogLevel);

}  // namespace commsvc::kafka
