// The `http` publisher plugin: factory and descriptor (the options are
// declared with the settings, in http_publisher.hpp).

#include "commsvc/plugin.hpp"

#include <boost/config.hpp>
#include <memory>

#include "http_publisher.hpp"

namespace commsvc::plugins::publisher_http {
namespace {

std::unique_ptr<Publisher> createPublisher(const HttpPublisherSettings& settings,
                                           Context& context) {
  return std::make_unique<HttpPublisher>(resolveOptions(settings), context.logger(),
                                         context.metrics(), context.instanceName());
}

}  // namespace
}  // namespace commsvc::plugins::publisher_http

/// The plugin descriptor the engine loads.
extern "C" BOOST_SYMBOL_EXPORT const commsvc::PluginInfo commsvc_plugin =
    commsvc::publisherPlugin<commsvc::plugins::publisher_http::kOptions,
                             &commsvc::plugins::publisher_http::createPublisher>(
        "http",
        "sends each event as one HTTP request (method, URL and JSON body templates with payload "
        "{fields}, headers, timeouts, TLS) over kept-alive connections; 2xx = published, "
        "5xx/429/timeouts = failed, other 4xx = rejected");
