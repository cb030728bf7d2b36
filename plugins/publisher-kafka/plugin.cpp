// The `kafka` publisher plugin: options, factory and descriptor.

#include "commsvc/plugin.hpp"

#include <boost/config.hpp>
#include <iterator>
#include <memory>

#include "kafka_publisher.hpp"

namespace commsvc::plugins::publisher_kafka {
namespace {

constexpr OptionSpec kOptions[] = {
    {.name = "topic",
     .type = OptionType::String,
     .defaultValue = "",
     .description = "topic to publish to; empty = the pipeline's kafka.topic"},
    {.name = "properties",
     .type = OptionType::StringMap,
     .defaultValue = "",
     .description = "extra librdkafka producer properties (applied after kafka.properties)",
     .secret = true},
    {.name = "flush_timeout_ms",
     .type = OptionType::Integer,
     .defaultValue = "10000",
     .description = "how long shutdown waits for outstanding deliveries",
     .min = 0,
     .max = 3600000},
};

std::unique_ptr<Publisher> createPublisher(const Config& config, Context& context) {
  return std::make_unique<KafkaPublisher>(resolveOptions(config, context.kafka()),
                                          context.logger());
}

}  // namespace
}  // namespace commsvc::plugins::publisher_kafka

/// The plugin descriptor the engine loads.
extern "C" BOOST_SYMBOL_EXPORT const commsvc::PluginInfo commsvc_plugin = commsvc::publisherPlugin(
    "kafka", "publishes events as JSON envelopes to a Kafka topic (idempotent, acks=all)",
    commsvc::plugins::publisher_kafka::kOptions,
    &commsvc::plugins::publisher_kafka::createPublisher);
