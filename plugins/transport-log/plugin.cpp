// The `log` channel plugin: options, factory and descriptor.

#include "commsvc/plugin.hpp"

#include <boost/config.hpp>
#include <iterator>
#include <memory>

#include "log_channel.hpp"

namespace commsvc::plugins::transport_log {
namespace {

constexpr OptionSpec kOptions[] = {
    {"log_body", OptionType::Boolean, "false", "also log the plain-text body of each message"},
};

std::unique_ptr<Channel> createChannel(const Config& config, Context& context) {
  return std::make_unique<LogChannel>(context.logger(), config.getBool("log_body"));
}

}  // namespace
}  // namespace commsvc::plugins::transport_log

/// The plugin descriptor the engine loads.
extern "C" BOOST_SYMBOL_EXPORT const commsvc::PluginInfo commsvc_plugin = commsvc::channelPlugin(
    "log", "logs each message instead of sending it (always delivered)",
    commsvc::plugins::transport_log::kOptions, &commsvc::plugins::transport_log::createChannel);
