// The `log` channel plugin: factory and descriptor (the options are declared
// with the settings, in log_channel.hpp).

#include "commsvc/plugin.hpp"

#include <boost/config.hpp>
#include <memory>

#include "log_channel.hpp"

namespace commsvc::plugins::transport_log {
namespace {

std::unique_ptr<Channel> createChannel(const LogChannelSettings& settings, Context& context) {
  return std::make_unique<LogChannel>(context.logger(), settings);
}

}  // namespace
}  // namespace commsvc::plugins::transport_log

/// The plugin descriptor the engine loads.
extern "C" BOOST_SYMBOL_EXPORT const commsvc::PluginInfo commsvc_plugin =
    commsvc::channelPlugin<commsvc::plugins::transport_log::kOptions,
                           &commsvc::plugins::transport_log::createChannel>(
        "log", "logs each message instead of sending it (always delivered)");
