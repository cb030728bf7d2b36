#include "kafka_publisher.hpp"

#include <memory>
#include <stdexcept>

#include "kafka/producer.hpp"

namespace commsvc::plugins::publisher_kafka {
KafkaPublisherOptions resolveOptions(const KafkaPublisherSettings& settings,
                                     const KafkaSettings& kafka) {
  KafkaPublisherOptions options;
  options.topic = settings.topic;
  if (options.topic.empty()) options.topic = kafka.topic;
  if (options.topic.empty()) {
    throw ConfigError("kafka publisher: no topic (set `topic` or kafka.topic)");
  }
  if (!kafka.brokers.empty()) options.properties.emplace_back("bootstrap.servers", kafka.brokers);
  options.properties.insert(options.properties.end(), kafka.properties.begin(),
                            kafka.properties.end());
  for (const auto& [name, value] : settings.properties) {
    options.properties.emplace_back(name, value);
  }
  bool hasBrokers = false;
  for (const auto& [name, value] : options.properties) {
    if ((name == "bootstrap.servers" || name == "metadata.broker.list") && !value.empty()) {
      hasBrokers = true;
    }
  }
  if (!hasBrokers) throw ConfigError("kafka publisher: no bootstrap servers (kafka.brokers)");
  options.flushTimeout = settings.flushTimeout;
  return options;
}

struct KafkaPublisher::Impl {
  std::string topicName;
  std::chrono::milliseconds flushTimeout{0};
  std::unique_ptr<kafka::RawProducer> own;  // only without the engine's
  std::unique_ptr<KafkaProducer> producer;  // a handle on the shared or own producer
};

KafkaPublisher::KafkaPublisher(const KafkaPublisherOptions& options, Logger& logger)
    : impl_(new Impl) {
  std::unique_ptr<Impl> guard(impl_);
  impl_->topicName = options.topic;
  impl_->flushTimeout = options.flushTimeout;
  try {
    // What is undelivered after flushTimeout is failed by the handle; the
    // producer itself then only purges (no second wait).
    impl_->own = std::make_unique<kafka::RawProducer>(options.properties, logger,
                                                      std::chrono::milliseconds(0));
  } catch (const std::runtime_error& e) {
    throw ConfigError(std::string("kafka publisher: ") + e.what());
  }
  impl_->producer = impl_->own->client();
  guard.release();
}

KafkaPublisher::KafkaPublisher(std::unique_ptr<KafkaProducer> shared, std::string topic,
                               std::chrono::milliseconds flushTimeout, Logger&)
    : impl_(new Impl) {
  impl_->topicName = std::move(topic);
  impl_->flushTimeout = flushTimeout;
  impl_->producer = std::move(shared);
}

KafkaPublisher::~KafkaPublisher() {
  flush(impl_->flushTimeout);
  impl_->producer.reset();  // fails what is still unreported, once each
  impl_->own.reset();       // purges what is left of its records
  delete impl_;
}

void KafkaPublisher::publish(Event event, PublishCallback done) {
  const std::string value = toEnvelopeJson(event);
  impl_->producer->send(impl_->topicName, event.key, value, event.headers, std::move(done));
}

bool KafkaPublisher::flush(std::chrono::milliseconds timeout) {
  return impl_->producer->flush(timeout);
}

const std::string& KafkaPublisher::topic() const { return impl_->topicName; }

bool KafkaPublisher::shared() const { return impl_->own == nullptr; }

}  // namespace commsvc::plugins::publisher_kafka
