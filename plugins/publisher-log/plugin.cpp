// The `log` publisher plugin: options, factory and descriptor.

#include "commsvc/plugin.hpp"

#include <boost/config.hpp>
#include <memory>

#include "log_publisher.hpp"

namespace commsvc::plugins::publisher_log {
namespace {

std::unique_ptr<Publisher> createPublisher(const Config& /*config*/, Context& context) {
  return std::make_unique<LogPublisher>(context.logger());
}

}  // namespace
}  // namespace commsvc::plugins::publisher_log

/// The plugin descriptor the engine loads. The publisher has no options.
extern "C" BOOST_SYMBOL_EXPORT const commsvc::PluginInfo commsvc_plugin = commsvc::publisherPlugin(
    "log", "logs each event instead of publishing it (always acknowledged)", {},
    &commsvc::plugins::publisher_log::createPublisher);
