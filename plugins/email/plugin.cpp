// The `email` handler plugin: its descriptor (options in email_handler.hpp,
// schema migrations in schema.hpp).

#include "commsvc/plugin.hpp"

#include <boost/config.hpp>

#include "email_handler.hpp"
#include "schema.hpp"

/// The plugin descriptor the engine loads.
extern "C" BOOST_SYMBOL_EXPORT const commsvc::PluginInfo commsvc_plugin =
    commsvc::handlerPlugin<commsvc::plugins::email::kOptions,
                           &commsvc::plugins::email::createEmailHandler>(
        "email",
        "sends queued emails (communication.send_email and a periodic queue processor); "
        "email.sent through the outbox; the /api/emails and /api/system-messages HTTP routes",
        commsvc::plugins::email::kMigrations);
