#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "commsvc/channel.hpp"
#include "commsvc/database.hpp"
#include "commsvc/logger.hpp"
#include "commsvc/message.hpp"
#include "commsvc/metrics.hpp"
#include "commsvc/outbox.hpp"
#include "commsvc/shutdown.hpp"
#include "patient_contact.hpp"

namespace commsvc::plugins::email {

/// The send path's part of the email plugin's settings (EmailSettings in
/// email_handler.hpp, where the options are declared).
struct SenderSettings {
  std::chrono::seconds queueCheckInterval{60};  ///< how often the queue processor runs
  std::int64_t queueBatchSize = 50;             ///< emails claimed per processor run at most
  std::chrono::seconds claimLease{300};   ///< a `Wird_gesendet` claim older than this is recovered
  std::int64_t maxAttempts = 5;           ///< attempts before a transient failure becomes final
  std::chrono::seconds retryBackoff{30};  ///< wait before the 2nd attempt, doubled per attempt
  /// A batch's delivered emails are recorded (one transaction) before the
  /// next delivery starts once the oldest of them started this long ago: a
  /// crash can resend (under the same Message-ID) only what was delivered
  /// within this window, at most one email when deliveries take longer.
  std::chrono::milliseconds recordInterval{20};
};

/// An email row claimed for sending (status `Wird_gesendet`).
struct ClaimedEmail {
  std::int64_t id = 0;                      ///< emails.id
  std::optional<std::int64_t> therapistId;  ///< emails.therapist_id
  std::optional<std::int64_t> patientId;    ///< emails.patient_id
  std::string betreff;                      ///< subject
  std::string inhaltHtml;                   ///< HTML body
  std::string inhaltText;                   ///< plain-text body
  std::string empfaengerEmail;              ///< recipient address
  std::string empfaengerName;               ///< recipient name
  std::string absenderEmail;                ///< sender address
  std::string absenderName;                 ///< sender name
  std::int64_t wiederholungsanzahl = 0;     ///< attempts made before this claim
  /// updated_at as set by the claim, identifying it (a recovery and
  /// re-claim by another sender changes it).
  std::string claimedAt;
  /// The database's Message-ID token (commsvc_message_token), the same for
  /// every email and attempt; empty when the table has none.
  std::string messageToken;
  /// When this sender claimed (or renewed) the row: the lease counts from here.
  std::chrono::steady_clock::time_point claimedSince;
};

/// What claim() found.
enum class ClaimStatus {
  Claimed,    ///< the row was `In_Warteschlange` and is now ours (`Wird_gesendet`)
  NotQueued,  ///< the row exists in another status; nothing to do
  Unknown,    ///< no row with that id
};

/// The result of claim().
struct ClaimResult {
  ClaimStatus status = ClaimStatus::Unknown;  ///< what happened
  std::optional<ClaimedEmail> email;          ///< the claimed row, when Claimed
  std::string currentStatus;  ///< the row's status when NotQueued ("NULL" when null)
};

/// What send() recorded for a claimed email.
enum class SendOutcome {
  Sent,       ///< delivered; `Gesendet`, email.sent added to the outbox
  Requeued,   ///< transient failure; back in `In_Warteschlange` for a later attempt
  Failed,     ///< permanent failure or attempts exhausted; `Fehlgeschlagen`
  ClaimLost,  ///< the row was no longer ours when recording (lease expired); nothing recorded
  Held,  ///< the channel itself failed (session refused): back in the queue, no attempt counted
};

/// What sendAll() did with a batch of claimed emails.
struct BatchOutcome {
  /// Per email, in order: what was recorded; nullopt when a database error
  /// stopped the batch before the email's result was recorded (a delivered
  /// email's claim then stays until its lease; an undelivered one is put
  /// back in the queue when the database allows, reported Held).
  std::vector<std::optional<SendOutcome>> outcomes;
  std::exception_ptr error;  ///< the database error that stopped the batch, or null
  std::string errorText;     ///< its message
};

/// Counts of one queue processor run.
struct QueueRun {
  std::size_t recovered = 0;  ///< stale claims put back in the queue
  std::size_t claimed = 0;    ///< rows claimed
  std::size_t sent = 0;       ///< rows that reached `Gesendet`
  std::size_t requeued = 0;   ///< transient failures left for a later attempt
  std::size_t failed = 0;     ///< rows that reached `Fehlgeschlagen`
  std::size_t held = 0;       ///< rows put back because the channel failed or shutdown began
};

/// The message a channel delivers for `email`; its stableId is
/// "email-<id>.<messageToken>", the same on every attempt.
Message toMessage(const ClaimedEmail& email);

/// `text` as valid UTF-8 for a text column: valid sequences kept, every
/// other byte read as Latin-1 (servers answering "550 Empfänger unbekannt"
/// in ISO-8859-1), NUL bytes dropped.
std::string toValidUtf8(std::string_view text);

/// What the email events (SPEC §1) say about an email.
struct EmailEventData {
  std::int64_t id = 0;                      ///< emails.id
  std::optional<std::int64_t> therapistId;  ///< emails.therapist_id
  std::optional<std::int64_t> patientId;    ///< emails.patient_id
  std::string betreff;                      ///< subject
  std::string status;                       ///< the status the event reports
};

/// The payload of an email event (compact JSON): `{"email_id", "email_data":
/// {therapist_id, patient_id, betreff, recipient_type, status}}` — the
/// `communication.email_created` shape — plus, when
/// `withCommunicationFields`, `communication_type`, `patient_id` and
/// `therapist_id` — the `email.sent` / `email.response_received` shape.
std::string emailEventPayload(const EmailEventData& email, bool withCommunicationFields);

/// The `email.sent` payload of SPEC §1 for `email` (status `Gesendet`).
std::string emailSentPayload(const ClaimedEmail& email);

/// The one send path of the plugin, used by both the
/// `communication.send_email` handler and the queue processor: claims rows
/// (In_Warteschlange → Wird_gesendet, committed before sending, so no two
/// senders ever send one email), delivers through the channel and records
/// the result together with its `email.sent` outbox event in one
/// transaction. Thread-safe (its collaborators are). Database errors
/// propagate as the Database throws them.
class EmailSender {
 public:
  /// Uses the given collaborators, which must outlive the sender.
  /// `shutdown` stops queue runs between emails and bounds the retries of
  /// recording a result. `contact` reports an email to a patient that
  /// reaches `Gesendet` to the patient service (off by default).
  EmailSender(Database& database, Channel& channel, Outbox& outbox, Logger& logger,
              Metrics& metrics, SenderSettings settings, const Shutdown& shutdown,
              contact::PatientContact contact = {});

  /// Claims email `id` in one atomic statement (committed on return) when it
  /// is `In_Warteschlange`; otherwise reports its status or that it is unknown.
  ClaimResult claim(std::int64_t id);

  /// claim() for several distinct ids in one transaction (one UPDATE for
  /// all); results in the order of `ids`.
  std::vector<ClaimResult> claimAll(const std::vector<std::int64_t>& ids);

  /// Delivers claimed emails in order and records their outcomes, several
  /// per transaction together with their outbox events (see
  /// SenderSettings::recordInterval). Before a delivery, claims older than
  /// a quarter of the lease are renewed (one statement for the rest of the
  /// batch); one renewed by another sender meanwhile is not sent
  /// (ClaimLost). Stops early, putting the undelivered rest back in the
  /// queue (Held), when shutdown begins or the channel itself fails; and
  /// when recording fails past its retries (see send), with that error.
  BatchOutcome sendAll(std::vector<ClaimedEmail>& emails);

  /// Delivers a claimed email and records the outcome (see SendOutcome).
  /// Recording is retried with backoff until half the lease has passed
  /// since the claim or the shutdown deadline comes, whichever is first;
  /// then it throws, the claim stays and is recovered once the lease
  /// expires (a resend then carries the same Message-ID).
  SendOutcome send(const ClaimedEmail& email);

  /// Ends `Wird_gesendet` claims older than the lease (a crashed sender, or
  /// one that could not record its result): each counts as an attempt, goes
  /// back to `In_Warteschlange`, or to `Fehlgeschlagen` when that was the
  /// last attempt (so a poison email cannot circle forever). Returns how
  /// many were put back in the queue or failed.
  std::size_t recoverStaleClaims();

  /// Claims up to queueBatchSize queued rows whose retry backoff has
  /// passed, oldest in_warteschlange_am first (NULLs last, then id), with
  /// FOR UPDATE SKIP LOCKED; committed on return. Returned in that order.
  std::vector<ClaimedEmail> claimBatch();

  /// Refreshes a batch claim (updated_at = now()) right before sending, so
  /// the lease counts from the send, not from the batch's claim. False when
  /// the claim is no longer this one (recovered, perhaps re-claimed by
  /// another sender, meanwhile): then it must not be sent.
  bool renewClaim(ClaimedEmail& email);

  /// Puts claimed rows that were not sent back in the queue.
  void releaseClaims(const std::vector<std::int64_t>& ids);

  /// One queue processor run: recoverStaleClaims, claimBatch, then sendAll.
  /// A database error or a failure of the channel itself mid-batch, or the
  /// start of shutdown, puts the rest of the batch back in the queue at
  /// once instead of leaving it to the lease.
  QueueRun processQueue();

  /// The settings in use.
  const SenderSettings& settings() const { return settings_; }

 private:
  // A delivered (or failed) email of a batch whose result is not recorded yet.
  struct Delivery {
    std::size_t index;  // in the batch
    DeliveryResult result;
  };
  // Records `deliveries` of `emails` in one transaction, retried with
  // backoff until half the lease of the oldest claim or the shutdown
  // deadline (then throws); sets their outcomes.
  void recordWithRetries(const std::vector<ClaimedEmail>& emails,
                         const std::vector<Delivery>& deliveries,
                         std::vector<std::optional<SendOutcome>>& outcomes);
  // One try of recordWithRetries: the transaction, then logs and metrics.
  void record(const std::vector<ClaimedEmail>& emails, const std::vector<Delivery>& deliveries,
              std::vector<std::optional<SendOutcome>>& outcomes);
  // Renews the claims of emails[from..] that have no outcome yet (one
  // statement); those no longer ours get ClaimLost.
  void renewAll(std::vector<ClaimedEmail>& emails, std::size_t from,
                std::vector<std::optional<SendOutcome>>& outcomes);
  // Logs and counts what was recorded for one email.
  void report(const ClaimedEmail& email, const DeliveryResult& result, SendOutcome outcome);

  Database& database_;
  Channel& channel_;
  Outbox& outbox_;
  Logger& logger_;
  SenderSettings settings_;
  contact::PatientContact contact_;
  const Shutdown& shutdown_;
  Counter& sent_;
  Counter& failed_;
  Counter& recovered_;
  Counter& held_;
};

}  // namespace commsvc::plugins::email
