#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "commsvc/config.hpp"
#include "commsvc/context.hpp"
#include "commsvc/handler.hpp"
#include "commsvc/logger.hpp"
#include "email_sender.hpp"

namespace commsvc::plugins::email {

/// The name of the queue processor's periodic job.
inline constexpr const char* kQueueJobName = "email-queue";

/// Reads `email_id` from a `communication.send_email` payload. Returns it,
/// or nullopt with the reason in `error` (not JSON, not an object, missing,
/// not an integer).
std::optional<std::int64_t> parseEmailId(const std::string& payload, std::string& error);

/// Handles `communication.send_email`: claims the email, sends it through
/// the shared EmailSender and records the outcome. Unknown ids and invalid
/// payloads are rejected (dead-lettered); database errors ask for a retry.
class EmailHandler : public Handler {
 public:
  /// Owns `sender`; logs to `logger`, which must outlive the handler.
  EmailHandler(std::unique_ptr<EmailSender> sender, Logger& logger);

  /// Handles one event (see the class comment).
  HandleResult handle(const Event& event) override;

  /// The sender shared with the queue processor.
  EmailSender& sender() { return *sender_; }

 private:
  std::unique_ptr<EmailSender> sender_;
  Logger& logger_;
};

/// Throws ConfigError when the claim lease is shorter than twice the
/// channel's worst-case delivery time: a send still running (or its result
/// being recorded, which retries up to half the lease) when the lease
/// expires would be handed out again.
void checkLease(const EmailSettings& settings, const Channel& channel);

/// The plugin's factory: checks that the handler entry has a channel, a
/// database and an outbox (a `publisher:`), throwing ConfigError naming
/// what is missing; builds the handler and registers the queue processor
/// as the periodic job kQueueJobName every queue_check_interval_s, and the
/// HTTP routes of EmailApi (email_api.hpp).
std::unique_ptr<Handler> createEmailHandler(const Config& config, Context& context);

}  // namespace commsvc::plugins::email
