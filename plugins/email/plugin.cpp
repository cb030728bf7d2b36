// The `email` handler plugin: options, schema migrations and descriptor.

#include "commsvc/plugin.hpp"

#include <boost/config.hpp>
#include <iterator>

#include "email_handler.hpp"
#include "patient_contact.hpp"
#include "schema.hpp"

namespace commsvc::plugins::email {
namespace {

// Placeholder company footers: replace them in pipelines.yaml.
constexpr const char* kDefaultFooterHtml =
    "<hr><p style=\"font-size:small;color:#666\">Example GmbH · Musterstraße 1 · 12345 "
    "Musterstadt<br>Geschäftsführung: Erika Mustermann · Amtsgericht Musterstadt HRB 00000</p>";
constexpr const char* kDefaultFooterText =
    "--\nExample GmbH · Musterstraße 1 · 12345 Musterstadt\nGeschäftsführung: Erika Mustermann "
    "· Amtsgericht Musterstadt HRB 00000";

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
    {.name = "default_sender_email",
     .type = OptionType::String,
     .defaultValue = "noreply@example.com",
     .description = "absender_email of emails created through POST /api/emails without one, and "
                    "the sender of system messages"},
    {.name = "default_sender_name",
     .type = OptionType::String,
     .defaultValue = "Communication Service",
     .description = "absender_name of emails created through POST /api/emails without one"},
    {.name = "legal_footer_html",
     .type = OptionType::String,
     .defaultValue = kDefaultFooterHtml,
     .description = "company footer appended to inhalt_html when a POST /api/emails has "
                    "add_legal_footer (default true); empty = none"},
    {.name = "legal_footer_text",
     .type = OptionType::String,
     .defaultValue = kDefaultFooterText,
     .description = "the same footer as plain text, appended to inhalt_text; empty = none"},
    {.name = "system_notification_email",
     .type = OptionType::String,
     .defaultValue = "",
     .description = "admin address POST /api/system-messages sends to; empty = system messages "
                    "answer 503 (pipelines.yaml passes ${SYSTEM_NOTIFICATION_EMAIL})"},
    contact::kOptions[0],
    contact::kOptions[1],
    contact::kOptions[2],
};

}  // namespace
}  // namespace commsvc::plugins::email

/// The plugin descriptor the engine loads.
extern "C" BOOST_SYMBOL_EXPORT const commsvc::PluginInfo commsvc_plugin = commsvc::handlerPlugin(
    "email",
    "sends queued emails (communication.send_email and a periodic queue processor); email.sent "
    "through the outbox; the /api/emails and /api/system-messages HTTP routes",
    commsvc::plugins::email::kOptions, &commsvc::plugins::email::createEmailHandler,
    commsvc::plugins::email::kMigrations);
