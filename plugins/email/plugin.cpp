// The `email` handler plugin: options, schema migrations and descriptor.

#include "commsvc/plugin.hpp"

#include <boost/config.hpp>
#include <iterator>

#include "email_handler.hpp"
#include "schema.hpp"

namespace commsvc::plugins::email {
namespace {

constexpr OptionSpec kOptions[] = {
    {.name = "queue_check_interval_s",
     .type = OptionType::Integer,
     .defaultValue = "60",
     .description = "seconds between runs of the email queue processor",
     .min = 1,
     .max = 86400},
    {.name = "queue_batch_size",
     .type = OptionType::Integer,
     .defaultValue = "10",
     .description = "queued emails the processor claims and sends per run at most",
     .min = 1,
     .max = 1000},
    {.name = "claim_lease_s",
     .type = OptionType::Integer,
     .defaultValue = "300",
     .description = "an email left in Wird_gesendet longer than this (a crashed sender) is queued "
                    "again",
     .min = 1,
     .max = 86400},
    {.name = "max_attempts",
     .type = OptionType::Integer,
     .defaultValue = "5",
     .description = "delivery attempts before a transient failure makes an email Fehlgeschlagen",
     .min = 1,
     .max = 100},
    {.name = "retry_backoff_s",
     .type = OptionType::Integer,
     .defaultValue = "30",
     .description = "wait before retrying a transient failure, doubled after each attempt",
     .min = 0,
     .max = 86400},
};

}  // namespace
}  // namespace commsvc::plugins::email

/// The plugin descriptor the engine loads.
extern "C" BOOST_SYMBOL_EXPORT const commsvc::PluginInfo commsvc_plugin = {
    commsvc::kAbiVersion,
    commsvc::PluginKind::Handler,
    "email",
    "sends queued emails (communication.send_email and a periodic queue processor); email.sent "
    "through the outbox",
    commsvc::plugins::email::kOptions,
    std::size(commsvc::plugins::email::kOptions),
    &commsvc::plugins::email::createEmailHandler,
    nullptr,
    nullptr,
    commsvc::plugins::email::kMigrations,
    std::size(commsvc::plugins::email::kMigrations),
};
