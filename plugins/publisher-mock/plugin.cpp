// The `mock` publisher plugin: options, factory and descriptor.

#include "commsvc/plugin.hpp"

#include <boost/config.hpp>
#include <iterator>
#include <memory>

#include "mock_publisher.hpp"

namespace commsvc::plugins::publisher_mock {
namespace {

constexpr OptionSpec kOptions[] = {
    {"file", OptionType::String, "mock-events.jsonl",
     "JSON-lines file each event is appended to as {key, envelope}"},
};

std::unique_ptr<Publisher> createPublisher(const Config& config, Context& /*context*/) {
  return std::make_unique<MockPublisher>(config.getString("file"));
}

}  // namespace
}  // namespace commsvc::plugins::publisher_mock

/// The plugin descriptor the engine loads.
extern "C" BOOST_SYMBOL_EXPORT const commsvc::PluginInfo commsvc_plugin = commsvc::publisherPlugin(
    "mock", "appends each event as a JSON line {key, envelope} to a file",
    commsvc::plugins::publisher_mock::kOptions, &commsvc::plugins::publisher_mock::createPublisher);
