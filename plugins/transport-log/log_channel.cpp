#include "log_channel.hpp"

#include <string>

namespace commsvc::plugins::transport_log {

LogChannel::LogChannel(Logger& logger, const LogChannelSettings& settings)
    : logger_(logger), logBody_(settings.logBody) {}

DeliveryResult LogChannel::deliver(const Message& message) {
  if (!logger_.enabled(LogLevel::Info)) return DeliveryResult::delivered();
  LogFields fields{
      {"id", message.id},
      {"from", message.fromAddress},
      {"to", message.toAddress},
      {"subject", message.subject},
      {"text_bytes", std::to_string(message.textBody.size())},
      {"html_bytes", std::to_string(message.htmlBody.size())},
  };
  if (logBody_) fields.emplace_back("body", message.textBody);
  logger_.info("message delivered to log", fields);
  return DeliveryResult::delivered();
}

}  // namespace commsvc::plugins::transport_log
