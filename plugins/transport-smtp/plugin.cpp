// The `smtp` channel plugin: options, factory and descriptor.

#include "commsvc/plugin.hpp"

#include <boost/config.hpp>
#include <chrono>
#include <iterator>
#include <memory>

#include "smtp_channel.hpp"

namespace commsvc::plugins::transport_smtp {
namespace {

constexpr OptionSpec kOptions[] = {
    {"host", OptionType::String, "localhost", "SMTP server host name or address"},
    {.name = "port",
     .type = OptionType::Integer,
     .defaultValue = "587",
     .description = "SMTP server port (587 submission, 465 implicit TLS, 25 relay)",
     .min = 1,
     .max = 65535},
    {.name = "tls",
     .type = OptionType::String,
     .defaultValue = "starttls",
     .description = "none = plain; starttls = STARTTLS required; tls = implicit TLS (smtps)",
     .choices = "none|starttls|tls"},
    {"username", OptionType::String, "",
     "AUTH user name; empty = no AUTH (write \"${SMTP_USERNAME:-}\")"},
    {.name = "password",
     .type = OptionType::String,
     .defaultValue = "",
     .description = "AUTH password, from the environment (write \"${SMTP_PASSWORD:-}\")",
     .secret = true},
    {"from_address", OptionType::String, "", "sender address used when a message has none"},
    {"from_name", OptionType::String, "", "sender display name used when a message has none"},
    {.name = "connect_timeout_ms",
     .type = OptionType::Integer,
     .defaultValue = "10000",
     .description = "bound of connecting (TCP and TLS), in milliseconds",
     .min = 1,
     .max = 600000},
    {.name = "timeout_ms",
     .type = OptionType::Integer,
     .defaultValue = "30000",
     .description = "bound of one whole delivery (connect, dialogue, upload), in milliseconds",
     .min = 1,
     .max = 3600000},
    {.name = "pool_size",
     .type = OptionType::Integer,
     .defaultValue = "4",
     .description = "connections kept open and reused; also the most sends at once",
     .min = 1,
     .max = 64},
    {"verify_tls", OptionType::Boolean, "true", "verify the server certificate and host name"},
    {"helo_domain", OptionType::String, "", "name sent with EHLO; empty = libcurl's default"},
};

std::unique_ptr<Channel> createChannel(const Config& config, Context& context) {
  SmtpSettings settings;
  settings.host = config.getString("host");
  settings.port = config.getInt("port");
  settings.tls = parseTlsMode(config.getString("tls"));
  settings.username = config.getString("username");
  settings.password = config.getString("password");
  settings.sender.address = config.getString("from_address");
  settings.sender.name = config.getString("from_name");
  settings.connectTimeout = std::chrono::milliseconds(config.getInt("connect_timeout_ms"));
  settings.timeout = std::chrono::milliseconds(config.getInt("timeout_ms"));
  settings.poolSize = config.getInt("pool_size");
  settings.verifyTls = config.getBool("verify_tls");
  settings.heloDomain = config.getString("helo_domain");
  return std::make_unique<SmtpChannel>(std::move(settings), context.logger(), context.metrics());
}

}  // namespace
}  // namespace commsvc::plugins::transport_smtp

/// The plugin descriptor the engine loads.
extern "C" BOOST_SYMBOL_EXPORT const commsvc::PluginInfo commsvc_plugin = commsvc::channelPlugin(
    "smtp",
    "sends email over SMTP (STARTTLS or TLS, AUTH) with libcurl, reusing pooled connections",
    commsvc::plugins::transport_smtp::kOptions, &commsvc::plugins::transport_smtp::createChannel);
