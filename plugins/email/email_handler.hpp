#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "commsvc/config.hpp"
#include "commsvc/context.hpp"
#include "commsvc/handler.hpp"
#include "commsvc/logger.hpp"
#include "commsvc/options.hpp"
#include "email_api.hpp"
#include "email_sender.hpp"
#include "patient_contact.hpp"

namespace commsvc::plugins::email {

/// The email plugin's settings, filled from its handler block (kOptions).
struct EmailSettings {
  SenderSettings sender;             ///< the send path and queue processor
  ApiSettings api;                   ///< the HTTP API
  contact::ContactSettings contact;  ///< patient contact updates
};

/// The email plugin's options, each bound to its field of EmailSettings.
inline constexpr auto kOptions = optionList(
    Option<EmailSettings>::field<&EmailSettings::sender, &SenderSettings::queueCheckInterval>(
        "queue_check_interval_s", "seconds between runs of the email queue processor")
        .range(1, 86400),
    Option<EmailSettings>::field<&EmailSettings::sender, &SenderSettings::queueBatchSize>(
        "queue_batch_size", "queued emails the processor claims and sends per run at most")
        .range(1, 1000),
    Option<EmailSettings>::field<&EmailSettings::sender, &SenderSettings::claimLease>(
        "claim_lease_s",
        "an email left in Wird_gesendet longer than this (a crashed sender) is queued "
        "again")
        .range(1, 86400),
    Option<EmailSettings>::field<&EmailSettings::sender, &SenderSettings::maxAttempts>(
        "max_attempts",
        "delivery attempts before a transient failure makes an email Fehlgeschlagen")
        .range(1, 100),
    Option<EmailSettings>::field<&EmailSettings::sender, &SenderSettings::retryBackoff>(
        "retry_backoff_s", "wait before retrying a transient failure, doubled after each attempt")
        .range(0, 86400),
    Option<EmailSettings>::field<&EmailSettings::sender, &SenderSettings::recordInterval>(
        "record_interval_ms",
        "a batch's delivered emails are recorded before the next delivery once the oldest "
        "started this long ago: a crash resends (same Message-ID) only what was delivered "
        "within it, at most one email when a delivery takes longer")
        .range(0, 60000),
    Option<EmailSettings>::field<&EmailSettings::api, &ApiSettings::defaultSenderEmail>(
        "default_sender_email",
        "absender_email of emails created through POST /api/emails without one, and "
        "the sender of system messages"),
    Option<EmailSettings>::field<&EmailSettings::api, &ApiSettings::defaultSenderName>(
        "default_sender_name",
        "absender_name of emails created through POST /api/emails without one"),
    Option<EmailSettings>::field<&EmailSettings::api, &ApiSettings::legalFooterHtml>(
        "legal_footer_html",
        "company footer appended to inhalt_html when a POST /api/emails has "
        "add_legal_footer (default true); empty = none"),
    Option<EmailSettings>::field<&EmailSettings::api, &ApiSettings::legalFooterText>(
        "legal_footer_text",
        "the same footer as plain text, appended to inhalt_text; empty = none"),
    Option<EmailSettings>::field<&EmailSettings::api, &ApiSettings::systemNotificationEmail>(
        "system_notification_email",
        "admin address POST /api/system-messages sends to; empty = system messages "
        "answer 503 (pipelines.yaml passes ${SYSTEM_NOTIFICATION_EMAIL})"),
    contact::options<EmailSettings>());

/// The name of the queue processor's periodic job.
inline constexpr const char* kQueueJobName = "email-queue";

/// The notification channel a transaction that queues an email notifies
/// (trigger of migration 5): it wakes the queue processor.
inline constexpr const char* kQueuedChannel = "commsvc_email_queued";

/// Reads `email_id` from a `communication.send_email` payload. Returns it,
/// or nullopt with the reason in `error` (not JSON, not an object, missing,
/// not an integer).
std::optional<std::int64_t> parseEmailId(const std::string& payload, std::string& error);

/// Handles `communication.send_email`: claims the emails of the waiting
/// events in one statement, sends them through the shared EmailSender
/// (sendAll) and records the outcomes. Unknown ids and invalid payloads are
/// rejected (dead-lettered); database errors ask for a retry.
class EmailHandler : public BatchHandler {
 public:
  /// Owns `sender`; logs to `logger`, which must outlive the handler.
  EmailHandler(std::unique_ptr<EmailSender> sender, Logger& logger);

  /// Handles one event: a batch of one.
  HandleResult handle(const Event& event) override;

  /// Handles waiting events (see the class comment). An event naming an
  /// email that an earlier event of the batch names too is done (as it
  /// would be after the first: the email is no longer queued).
  std::vector<HandleResult> handleBatch(std::span<const Event> events) override;

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
void checkLease(const SenderSettings& settings, const Channel& channel);

/// The plugin's factory: checks that the handler entry has a channel, a
/// database and an outbox (a `publisher:`), throwing ConfigError naming
/// what is missing; builds the handler and registers the queue processor
/// as the job kQueueJobName, run every queueCheckInterval and whenever an
/// email is queued (kQueuedChannel), again at once while a run claimed a
/// full batch; and the HTTP routes of EmailApi (email_api.hpp).
std::unique_ptr<Handler> createEmailHandler(const EmailSettings& settings, Context& context);

}  // namespace commsvc::plugins::email
