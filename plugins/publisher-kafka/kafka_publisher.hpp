#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "commsvc/config.hpp"
#include "commsvc/context.hpp"
#include "commsvc/event.hpp"
#include "commsvc/logger.hpp"
#include "commsvc/options.hpp"
#include "commsvc/publisher.hpp"

namespace commsvc::plugins::publisher_kafka {

/// Settings of a `kafka` publisher: the options of its YAML block (kOptions).
struct KafkaPublisherSettings {
  std::string topic;  ///< where events go; empty = the pipeline's kafka.topic
  /// librdkafka producer properties, applied after the pipeline's. Secret.
  std::map<std::string, std::string> properties;
  std::chrono::milliseconds flushTimeout{10000};  ///< how long the destructor waits
};

/// The options of a `kafka` publisher block, each bound to its
/// KafkaPublisherSettings field.
inline constexpr auto kOptions = optionList(
    Option<KafkaPublisherSettings>::field<&KafkaPublisherSettings::topic>(
        "topic", "topic to publish to; empty = the pipeline's kafka.topic"),
    Option<KafkaPublisherSettings>::field<&KafkaPublisherSettings::properties>(
        "properties", "extra librdkafka producer properties (applied after kafka.properties)")
        .secret(),
    Option<KafkaPublisherSettings>::field<&KafkaPublisherSettings::flushTimeout>(
        "flush_timeout_ms", "how long shutdown waits for outstanding deliveries")
        .range(0, 3600000));

/// What a KafkaPublisher needs, resolved from its settings and the
/// pipeline's Kafka settings.
struct KafkaPublisherOptions {
  std::string topic;  ///< where events go
  /// librdkafka producer properties in the order applied (later ones win):
  /// bootstrap.servers, the pipeline's common properties, the block's own.
  std::vector<std::pair<std::string, std::string>> properties;
  std::chrono::milliseconds flushTimeout{10000};  ///< how long the destructor waits
};

/// Resolves the settings of a `kafka` publisher block against the
/// pipeline's Kafka settings: an empty topic becomes the pipeline's, the
/// pipeline's properties come before the block's. Throws ConfigError when
/// no topic or no bootstrap servers are known.
KafkaPublisherOptions resolveOptions(const KafkaPublisherSettings& settings,
                                     const KafkaSettings& kafka);

/// Publishes events to a Kafka topic as SPEC §1 envelopes (key = event.key),
/// through an idempotent producer with acks=all: the engine's shared one
/// (Context::kafkaProducer()) or, where there is none or the block sets its
/// own `properties`, one of its own. Either way the engine's one producer
/// wrapper (kafka::RawProducer) does the work. Delivery reports are served
/// by the producer's thread, which is where PublishCallbacks run.
/// Thread-safe.
class KafkaPublisher : public Publisher {
 public:
  /// Creates its own producer; enable.idempotence=true and acks=all are
  /// forced. Throws ConfigError naming the property librdkafka refuses.
  KafkaPublisher(const KafkaPublisherOptions& options, Logger& logger);
  /// Publishes through `shared` (a handle on the engine's producer) to
  /// `topic`; the destructor waits up to `flushTimeout`.
  KafkaPublisher(std::unique_ptr<KafkaProducer> shared, std::string topic,
                 std::chrono::milliseconds flushTimeout, Logger& logger);
  /// Flushes for up to `flushTimeout`; what is still undelivered then is
  /// reported as failed to its callback.
  ~KafkaPublisher() override;
  KafkaPublisher(const KafkaPublisher&) = delete;
  KafkaPublisher& operator=(const KafkaPublisher&) = delete;

  /// Queues `event` (waiting while librdkafka's local queue is full); `done`
  /// runs once with the broker's answer. Never throws for Kafka errors:
  /// they are reported through `done`.
  void publish(Event event, PublishCallback done) override;

  /// Waits until every queued event is reported or `timeout` passes.
  bool flush(std::chrono::milliseconds timeout) override;

  /// The topic events are published to.
  const std::string& topic() const;
  /// True when it publishes through the engine's shared producer.
  bool shared() const;

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace commsvc::plugins::publisher_kafka
