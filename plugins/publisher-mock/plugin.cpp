// The `mock` publisher plugin: factory and descriptor (the options are
// declared with the settings, in mock_publisher.hpp).

#include "commsvc/plugin.hpp"

#include <boost/config.hpp>
#include <memory>

#include "mock_publisher.hpp"

namespace commsvc::plugins::publisher_mock {
namespace {

std::unique_ptr<Publisher> createPublisher(const MockPublisherSettings& settings,
                                           Context& /*context*/) {
  return std::make_unique<MockPublisher>(settings);
}

}  // namespace
}  // namespace commsvc::plugins::publisher_mock

/// The plugin descriptor the engine loads.
extern "C" BOOST_SYMBOL_EXPORT const commsvc::PluginInfo commsvc_plugin =
    commsvc::publisherPlugin<commsvc::plugins::publisher_mock::kOptions,
                             &commsvc::plugins::publisher_mock::createPublisher>(
        "mock", "appends each event as a JSON line {key, envelope} to a file");
