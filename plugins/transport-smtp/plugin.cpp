// The `smtp` channel plugin: factory and descriptor (the options are
// declared with the settings, in smtp_channel.hpp).

#include "commsvc/plugin.hpp"

#include <boost/config.hpp>
#include <memory>

#include "smtp_channel.hpp"

namespace commsvc::plugins::transport_smtp {
namespace {

std::unique_ptr<Channel> createChannel(const SmtpSettings& settings, Context& context) {
  return std::make_unique<SmtpChannel>(settings, context.logger(), context.metrics());
}

}  // namespace
}  // namespace commsvc::plugins::transport_smtp

/// The plugin descriptor the engine loads.
extern "C" BOOST_SYMBOL_EXPORT const commsvc::PluginInfo commsvc_plugin =
    commsvc::channelPlugin<commsvc::plugins::transport_smtp::kOptions,
                           &commsvc::plugins::transport_smtp::createChannel>(
        "smtp",
        "sends email over SMTP (STARTTLS or TLS, AUTH) with libcurl, reusing pooled connections");
