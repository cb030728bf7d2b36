// The `phonecall` handler plugin: schema migration and descriptor.

#include "commsvc/plugin.hpp"

#include <boost/config.hpp>
#include <iterator>

#include "schedule_call_handler.hpp"
#include "schema.hpp"

/// The plugin descriptor the engine loads. No options.
extern "C" BOOST_SYMBOL_EXPORT const commsvc::PluginInfo commsvc_plugin = commsvc::handlerPlugin(
    "phonecall",
    "logs and counts communication.schedule_call; serves /api/phone-calls (slot rules, "
    "call_scheduled and phone_call.completed through the outbox)",
    {}, &commsvc::plugins::phonecall::createPhoneCallHandler,
    commsvc::plugins::phonecall::kMigrations);
