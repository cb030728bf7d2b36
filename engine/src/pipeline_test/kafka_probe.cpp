#include "pipeline_test/kafka_probe.hpp"

#include <stdexcept>

namespace commsvc::pipeline_test {
namespace {

kafka::KafkaHandle makeConsumer(const kafka::Properties& properties) {
  kafka::KafkaConf conf = kafka::makeConf(properties);
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), errstr, sizeof errstr);
  if (rk == nullptr) throw std::runtime_error(std::string("kafka client refused: ") + errstr);
  conf.release();  // owned by rk now
  return kafka::KafkaHandle(rk);
}

// The partition ids of `topic`, from the broker's metadata.
std::vector<std::int32_t> partitionsOf(rd_kafka_t* rk, const std::string& topic,
                                       std::chrono::milliseconds timeout) {
  rd_kafka_topic_t* handle = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* metadata = nullptr;
  const rd_kafka_resp_err_t err =
      rd_kafka_metadata(rk, 0, handle, &metadata, static_cast<int>(timeout.count()));
  rd_kafka_topic_destroy(handle);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("metadata of topic " + topic + ": " + rd_kafka_err2str(err));
  }
  std::vector<std::int32_t> out;
  for (int t = 0; t < metadata->topic_cnt; ++t) {
    const auto& meta = metadata->topics[t];
    if (topic != meta.topic || meta.err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    for (int p = 0; p < meta.partition_cnt; ++p) out.push_back(meta.partitions[p].id);
  }
  rd_kafka_metadata_destroy(metadata);
  if (out.empty()) throw std::runtime_error("topic " + topic + " has no partitions");
  return out;
}

}  // namespace

TopicReader::TopicReader(const std::string& bootstrap, const std::string& topic)
    : handle_(makeConsumer({{"bootstrap.servers", bootstrap},
                            {"group.id", "commsvc-test-reader"},
                            {"enable.auto.commit", "false"},
                            {"enable.auto.offset.store", "false"},
                            {"log_level", "3"}})) {
  const auto partitions = partitionsOf(handle_.get(), topic, std::chrono::seconds(10));
  kafka::PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
  for (const std::int32_t p : partitions) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  }
  if (const auto err = rd_kafka_assign(handle_.get(), list.get()); err) {
    throw std::runtime_error("cannot read topic " + topic + ": " + rd_kafka_err2str(err));
  }
}

TopicReader::~TopicReader() { rd_kafka_assign(handle_.get(), nullptr); }

void TopicReader::poll(std::chrono::milliseconds timeout) {
  int wait = static_cast<int>(timeout.count());
  while (rd_kafka_message_t* raw = rd_kafka_consumer_poll(handle_.get(), wait)) {
    wait = 0;
    const kafka::KafkaMessage message(raw);
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    kafka::Record record;
    record.topic = rd_kafka_topic_name(message->rkt);
    record.partition = message->partition;
    record.offset = message->offset;
    if (message->key != nullptr) {
      record.key.assign(static_cast<const char*>(message->key), message->key_len);
    }
    if (message->payload != nullptr) {
      record.value.assign(static_cast<const char*>(message->payload), message->len);
    }
    rd_kafka_headers_t* headers = nullptr;
    if (rd_kafka_message_headers(message.get(), &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name = nullptr;
      const void* value = nullptr;
      size_t size = 0;
      for (size_t i = 0;
           rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
           ++i) {
        record.headers.emplace_back(name, value == nullptr
                                              ? std::string()
                                              : std::string(static_cast<const char*>(value), size));
      }
    }
    records_.push_back(std::move(record));
  }
}

GroupProbe::GroupProbe(const std::string& bootstrap, const std::string& group)
    : handle_(makeConsumer({{"bootstrap.servers", bootstrap},
                            {"group.id", group},
                            {"enable.auto.commit", "false"},
                            {"log_level", "3"}})) {}

GroupProbe::~GroupProbe() = default;

GroupProgress GroupProbe::progress(const std::string& topic, std::chrono::milliseconds timeout) {
  GroupProgress out;
  std::vector<std::int32_t> partitions;
  try {
    partitions = partitionsOf(handle_.get(), topic, timeout);
  } catch (const std::exception&) {
    return out;
  }
  kafka::PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
  for (const std::int32_t p : partitions) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p);
  }
  if (rd_kafka_committed(handle_.get(), list.get(), static_cast<int>(timeout.count())) !=
      RD_KAFKA_RESP_ERR_NO_ERROR) {
    return out;
  }
  for (int i = 0; i < list->cnt; ++i) {
    const auto& tp = list->elems[i];
    std::int64_t low = 0;
    std::int64_t high = 0;
    if (rd_kafka_query_watermark_offsets(handle_.get(), topic.c_str(), tp.partition, &low, &high,
                                         static_cast<int>(timeout.count())) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      return out;
    }
    out.records += high;
    if (tp.err == RD_KAFKA_RESP_ERR_NO_ERROR && tp.offset >= 0) {
      out.committed += std::min(tp.offset, high);
    }
  }
  out.known = true;
  return out;
}

}  // namespace commsvc::pipeline_test
