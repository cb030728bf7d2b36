#pragma once

#include "commsvc/channel.hpp"
#include "commsvc/logger.hpp"
#include "commsvc/message.hpp"

namespace commsvc::plugins::transport_log {

/// A channel that delivers nothing: it logs each message at info level and
/// reports it delivered. Meant for development and dry runs.
class LogChannel : public Channel {
 public:
  /// Logs through `logger` (which must outlive the channel); with
  /// `logBody` the plain-text body is logged too.
  LogChannel(Logger& logger, bool logBody);

  /// Logs `message` (id, addresses, subject, body sizes); always Delivered.
  DeliveryResult deliver(const Message& message) override;

 private:
  Logger& logger_;
  const bool logBody_;
};

}  // namespace commsvc::plugins::transport_log
