// The `mock` channel plugin: options, factory and descriptor.

#include "commsvc/plugin.hpp"

#include <boost/config.hpp>
#include <iterator>
#include <memory>

#include "mock_channel.hpp"

namespace commsvc::plugins::transport_mock {
namespace {

constexpr OptionSpec kOptions[] = {
    {"file", OptionType::String, "mock-outbox.jsonl",
     "JSON-lines file each delivered message is appended to"},
    {.name = "fail",
     .type = OptionType::String,
     .defaultValue = "none",
     .description = "simulated failure of every fail_every-th delivery",
     .choices = "none|transient|permanent"},
    {.name = "fail_every",
     .type = OptionType::Integer,
     .defaultValue = "1",
     .description = "with fail set, every Nth delivery fails (1 = all), counting from the first",
     .min = 1,
     .max = 1000000},
    {"fail_message", OptionType::String, "mock failure", "detail reported by simulated failures"},
};

std::unique_ptr<Channel> createChannel(const Config& config, Context& context) {
  MockChannelSettings settings;
  settings.file = config.getString("file");
  settings.fail = parseFailureMode(config.getString("fail"));
  settings.failEvery = config.getInt("fail_every");
  settings.failMessage = config.getString("fail_message");
  return std::make_unique<MockChannel>(std::move(settings), context.metrics());
}

}  // namespace
}  // namespace commsvc::plugins::transport_mock

/// The plugin descriptor the engine loads.
extern "C" BOOST_SYMBOL_EXPORT const commsvc::PluginInfo commsvc_plugin = commsvc::channelPlugin(
    "mock", "appends each message as a JSON line to a file; can simulate failures",
    commsvc::plugins::transport_mock::kOptions, &commsvc::plugins::transport_mock::createChannel);
