// The `mock` channel plugin: factory and descriptor (the options are
// declared with the settings, in mock_channel.hpp).

#include "commsvc/plugin.hpp"

#include <boost/config.hpp>
#include <memory>

#include "mock_channel.hpp"

namespace commsvc::plugins::transport_mock {
namespace {

std::unique_ptr<Channel> createChannel(const MockChannelSettings& settings, Context& context) {
  return std::make_unique<MockChannel>(settings, context.metrics());
}

}  // namespace
}  // namespace commsvc::plugins::transport_mock

/// The plugin descriptor the engine loads.
extern "C" BOOST_SYMBOL_EXPORT const commsvc::PluginInfo commsvc_plugin =
    commsvc::channelPlugin<commsvc::plugins::transport_mock::kOptions,
                           &commsvc::plugins::transport_mock::createChannel>(
        "mock", "appends each message as a JSON line to a file; can simulate failures");
