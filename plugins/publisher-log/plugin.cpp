// The `log` publisher plugin: factory and descriptor (it has no options).

#include "commsvc/plugin.hpp"

#include <boost/config.hpp>
#include <memory>

#include "log_publisher.hpp"

namespace commsvc::plugins::publisher_log {
namespace {

std::unique_ptr<Publisher> createPublisher(const NoSettings& /*settings*/, Context& context) {
  return std::make_unique<LogPublisher>(context.logger());
}

}  // namespace
}  // namespace commsvc::plugins::publisher_log

/// The plugin descriptor the engine loads. The publisher has no options.
extern "C" BOOST_SYMBOL_EXPORT const commsvc::PluginInfo commsvc_plugin =
    commsvc::publisherPlugin<commsvc::kNoOptions,
                             &commsvc::plugins::publisher_log::createPublisher>(
        "log", "logs each event instead of publishing it (always acknowledged)");
