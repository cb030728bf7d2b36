#pragma once

#include "commsvc/channel.hpp"
#include "commsvc/logger.hpp"
#include "commsvc/message.hpp"
#include "commsvc/options.hpp"

namespace commsvc::plugins::transport_log {

/// Settings of a LogChannel: the options of its YAML block (kOptions).
struct LogChannelSettings {
  bool logBody = false;  ///< also log the plain-text body
};

/// The options of a `log` channel block.
inline constexpr auto kOptions =
    optionList(Option<LogChannelSettings>::field<&LogChannelSettings::logBody>(
        "log_body", "also log the plain-text body of each message"));

/// A channel that delivers nothing: it logs each message at info level and
/// reports it delivered. Meant for development and dry runs.
class LogChannel : public Channel {
 public:
  /// Logs through `logger` (which must outlive the channel); with
  /// `settings.logBody` the plain-text body is logged too.
  LogChannel(Logger& logger, const LogChannelSettings& settings);

  /// Logs `message` (id, addresses, subject, body sizes); always Delivered.
  DeliveryResult deliver(const Message& message) override;

 private:
  Logger& logger_;
  const bool logBody_;
};

}  // namespace commsvc::plugins::transport_log
