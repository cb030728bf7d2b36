// The `kafka` publisher plugin: factory and descriptor (the options are
// declared with the settings, in kafka_publisher.hpp).

#include "commsvc/plugin.hpp"

#include <boost/config.hpp>
#include <memory>

#include "kafka_publisher.hpp"

namespace commsvc::plugins::publisher_kafka {
namespace {

std::unique_ptr<Publisher> createPublisher(const KafkaPublisherSettings& settings,
                                           Context& context) {
  KafkaPublisherOptions options = resolveOptions(settings, context.kafka());
  // The engine's one producer, unless the block wants properties of its own
  // (they need a client of their own).
  if (settings.properties.empty()) {
    if (auto shared = context.kafkaProducer()) {
      return std::make_unique<KafkaPublisher>(std::move(shared), options.topic,
                                              options.flushTimeout, context.logger());
    }
  }
  return std::make_unique<KafkaPublisher>(options, context.logger());
}

}  // namespace
}  // namespace commsvc::plugins::publisher_kafka

/// The plugin descriptor the engine loads.
extern "C" BOOST_SYMBOL_EXPORT const commsvc::PluginInfo commsvc_plugin =
    commsvc::publisherPlugin<commsvc::plugins::publisher_kafka::kOptions,
                             &commsvc::plugins::publisher_kafka::createPublisher>(
        "kafka", "publishes events as JSON envelopes to a Kafka topic (idempotent, acks=all)");
