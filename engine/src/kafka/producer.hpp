#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "commsvc/context.hpp"
#include "commsvc/event.hpp"
#include "commsvc/logger.hpp"
#include "kafka/client_config.hpp"

namespace commsvc::kafka {

/// Reports a delivery: ok, or the error text.
using DeliveryCallback = std::function<void(bool ok, const std::string& error)>;

/// The engine's one librdkafka producer wrapper: idempotent (acks=all), raw
/// records, delivery reports served by an internal thread. Thread-safe. The
/// engine owns one, shared by the dead-letter path and (through client())
/// the `kafka` publishers; `commsvc produce` and tests make their own.
class RawProducer {
 public:
  /// `properties` as for KafkaSource; enable.idempotence=true and acks=all
  /// are forced. Throws std::runtime_error naming a refused property.
  /// The destructor flushes for up to `closeFlush`, then fails what is left.
  RawProducer(const Properties& properties, Logger& logger,
              std::chrono::milliseconds closeFlush = std::chrono::milliseconds(5000));
  ~RawProducer();  ///< flushes for up to `closeFlush`, then destroys
  RawProducer(const RawProducer&) = delete;
  RawProducer& operator=(const RawProducer&) = delete;

  /// Queues one record (retrying while the local queue is full); `done`
  /// is called once with the outcome, on the internal thread.
  void send(std::string_view topic, std::string_view key, std::string_view value,
            const std::vector<Header>& headers, DeliveryCallback done);
  /// Waits for outstanding deliveries; true when none is left.
  bool flush(std::chrono::milliseconds timeout);
  /// Records queued or in flight (librdkafka's out queue).
  int outstanding() const;

  /// A new handle for a plugin (Context::kafkaProducer()): sends through
  /// this producer, flushes only its own records, and fails its unreported
  /// records when destroyed. Must not outlive this producer.
  std::unique_ptr<KafkaProducer> client();

 private:
  struct Impl;
  Impl* impl_;
};

/// Header names of a dead-lettered record.
inline constexpr std::string_view kDlqReasonHeader = "x-dlq-reason";       ///< e.g. "not_json"
inline constexpr std::string_view kDlqDetailHeader = "x-dlq-detail";       ///< human-readable why
inline constexpr std::string_view kDlqTopicHeader = "x-dlq-source-topic";  ///< original topic
inline constexpr std::string_view kDlqPartitionHeader = "x-dlq-source-partition";  ///< decimal
inline constexpr std::string_view kDlqOffsetHeader = "x-dlq-source-offset";        ///< decimal

/// The headers of a dead-lettered record: the original ones, then the five
/// x-dlq-* headers above.
std::vector<Header> deadLetterHeaders(const std::vector<Header>& original, std::string_view reason,
                                      std::string_view detail, std::string_view sourceTopic,
                                      std::int32_t partition, std::int64_t offset);

}  // namespace commsvc::kafka
