// The `phonecall` handler plugin: its descriptor (options in
// schedule_call_handler.hpp, schema migration in schema.hpp).

#include "commsvc/plugin.hpp"

#include <boost/config.hpp>

#include "schedule_call_handler.hpp"
#include "schema.hpp"

/// The plugin descriptor the engine loads. Its options say where patient
/// contacts (a call with a patient becoming abgeschlossen) are reported.
extern "C" BOOST_SYMBOL_EXPORT const commsvc::PluginInfo commsvc_plugin =
    commsvc::handlerPlugin<commsvc::plugins::phonecall::kOptions,
                           &commsvc::plugins::phonecall::createPhoneCallHandler>(
        "phonecall",
        "logs and counts communication.schedule_call; serves /api/phone-calls (slot rules, "
        "call_scheduled and phone_call.completed through the outbox)",
        commsvc::plugins::phonecall::kMigrations);
