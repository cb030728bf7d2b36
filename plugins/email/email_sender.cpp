#include "email_sender.hpp"

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>
#include <utility>

#include "commsvc/event.hpp"

namespace commsvc::plugins::email {
namespace {

// The columns a sender needs, in the order rowToEmail reads them.
constexpr const char* kColumns =
    "id, therapist_id, patient_id, betreff, inhalt_html, inhalt_text, empfaenger_email, "
    "empfaenger_name, absender_email, absender_name, "
    "COALESCE(wiederholungsanzahl, 0) AS wiederholungsanzahl";

// Tries of the final UPDATE (each already retried by the pool on broken
// connections) and the pause between them.
constexpr int kRecordTries = 3;
constexpr std::chrono::milliseconds kRecordPause{500};

ClaimedEmail rowToEmail(const pqxx::row& row) {
  ClaimedEmail e;
  e.id = row["id"].as<std::int64_t>();
  if (!row["therapist_id"].is_null()) e.therapistId = row["therapist_id"].as<std::int64_t>();
  if (!row["patient_id"].is_null()) e.patientId = row["patient_id"].as<std::int64_t>();
  e.betreff = row["betreff"].as<std::string>();
  e.inhaltHtml = row["inhalt_html"].as<std::string>();
  e.inhaltText = row["inhalt_text"].as<std::string>();
  e.empfaengerEmail = row["empfaenger_email"].as<std::string>();
  e.empfaengerName = row["empfaenger_name"].as<std::string>();
  e.absenderEmail = row["absender_email"].as<std::string>();
  e.absenderName = row["absender_name"].as<std::string>();
  e.wiederholungsanzahl = row["wiederholungsanzahl"].as<std::int64_t>();
  return e;
}

nlohmann::json optionalId(const std::optional<std::int64_t>& id) {
  return id ? nlohmann::json(*id) : nlohmann::json(nullptr);
}

std::string failureDetail(const DeliveryResult& result) {
  if (!result.detail.empty()) return result.detail;
  return result.status == DeliveryResult::Status::PermanentFailure
             ? "permanent delivery failure (no detail)"
             : "transient delivery failure (no detail)";
}

}  // namespace

EmailSettings settingsFrom(const Config& config) {
  EmailSettings s;
  s.queueCheckInterval = std::chrono::seconds(config.getInt("queue_check_interval_s"));
  s.queueBatchSize = config.getInt("queue_batch_size");
  s.claimLease = std::chrono::seconds(config.getInt("claim_lease_s"));
  s.maxAttempts = config.getInt("max_attempts");
  s.retryBackoff = std::chrono::seconds(config.getInt("retry_backoff_s"));
  return s;
}

Message toMessage(const ClaimedEmail& email) {
  Message m;
  m.id = std::to_string(email.id);
  m.fromAddress = email.absenderEmail;
  m.fromName = email.absenderName;
  m.toAddress = email.empfaengerEmail;
  m.toName = email.empfaengerName;
  m.subject = email.betreff;
  m.textBody = email.inhaltText;
  m.htmlBody = email.inhaltHtml;
  return m;
}

std::string emailEventPayload(const EmailEventData& email, bool withCommunicationFields) {
  const nlohmann::json therapist = optionalId(email.therapistId);
  const nlohmann::json patient = optionalId(email.patientId);
  nlohmann::json payload = {
      {"email_id", email.id},
      {"email_data",
       {{"therapist_id", therapist},
        {"patient_id", patient},
        {"betreff", email.betreff},
        {"recipient_type", email.therapistId ? "therapist" : "patient"},
        {"status", email.status}}},
  };
  if (withCommunicationFields) {
    payload["communication_type"] = "email";
    payload["patient_id"] = patient;
    payload["therapist_id"] = therapist;
  }
  return payload.dump();
}

std::string emailSentPayload(const ClaimedEmail& email) {
  return emailEventPayload(
      {email.id, email.therapistId, email.patientId, email.betreff, "Gesendet"},
      /*withCommunicationFields=*/true);
}

EmailSender::EmailSender(Database& database, Channel& channel, Outbox& outbox, Logger& logger,
                         Metrics& metrics, EmailSettings settings)
    : database_(database),
      channel_(channel),
      outbox_(outbox),
      logger_(logger),
      settings_(settings),
      sent_(metrics.counter("emails_sent_total", "emails that reached status Gesendet")),
      failed_(metrics.counter("emails_failed_total", "emails that reached status Fehlgeschlagen")),
      recovered_(metrics.counter("email_claims_recovered_total",
                                 "stale Wird_gesendet claims put back in the queue")) {}

ClaimResult EmailSender::claim(std::int64_t id) {
  ClaimResult out;
  database_.transaction([&](pqxx::work& tx) {
    out = {};
    const pqxx::result claimed = tx.exec_params(
        std::string("UPDATE communication_service.emails SET status = 'Wird_gesendet', "
                    "updated_at = now() WHERE id = $1 AND status = 'In_Warteschlange' "
                    "RETURNING ") +
            kColumns,
        id);
    if (!claimed.empty()) {
      out.status = ClaimStatus::Claimed;
      out.email = rowToEmail(claimed[0]);
      return;
    }
    const pqxx::result current = tx.exec_params(
        "SELECT COALESCE(status::text, 'NULL') FROM communication_service.emails WHERE id = $1",
        id);
    if (current.empty()) {
      out.status = ClaimStatus::Unknown;
    } else {
      out.status = ClaimStatus::NotQueued;
      out.currentStatus = current[0][0].as<std::string>();
    }
  });
  return out;
}

SendOutcome EmailSender::send(const ClaimedEmail& email) {
  const DeliveryResult result = channel_.deliver(toMessage(email));
  for (int attempt = 1;; ++attempt) {
    try {
      return record(email, result);
    } catch (const std::exception& e) {
      if (attempt >= kRecordTries) {
        logger_.error(
            "could not record the delivery result; the claim stays until its lease "
            "expires",
            {{"email_id", std::to_string(email.id)},
             {"delivered", result.ok() ? "true" : "false"},
             {"error", e.what()}});
        throw;
      }
      std::this_thread::sleep_for(kRecordPause * attempt);
    }
  }
}

SendOutcome EmailSender::record(const ClaimedEmail& email, const DeliveryResult& result) {
  const std::string id = std::to_string(email.id);
  SendOutcome outcome = SendOutcome::ClaimLost;
  std::string newStatus;
  database_.transaction([&](pqxx::work& tx) {
    outcome = SendOutcome::ClaimLost;
    if (result.ok()) {
      // Also from In_Warteschlange: a lease recovered meanwhile must not
      // make the delivered email go out again.
      const pqxx::result r = tx.exec_params(
          "UPDATE communication_service.emails SET status = 'Gesendet', gesendet_am = now(), "
          "fehlermeldung = NULL, updated_at = now() WHERE id = $1 "
          "AND status IN ('Wird_gesendet', 'In_Warteschlange') RETURNING id",
          email.id);
      if (r.empty()) return;
      outbox_.add(tx, makeEvent("email.sent", id, emailSentPayload(email)));
      outcome = SendOutcome::Sent;
      return;
    }
    const std::string detail = failureDetail(result);
    if (result.status == DeliveryResult::Status::PermanentFailure) {
      const pqxx::result r = tx.exec_params(
          "UPDATE communication_service.emails SET status = 'Fehlgeschlagen', "
          "fehlermeldung = $2, wiederholungsanzahl = COALESCE(wiederholungsanzahl, 0) + 1, "
          "updated_at = now() WHERE id = $1 AND status = 'Wird_gesendet' RETURNING id",
          email.id, detail);
      if (!r.empty()) outcome = SendOutcome::Failed;
      return;
    }
    const pqxx::result r = tx.exec_params(
        "UPDATE communication_service.emails SET "
        "wiederholungsanzahl = COALESCE(wiederholungsanzahl, 0) + 1, fehlermeldung = $2, "
        "status = CASE WHEN COALESCE(wiederholungsanzahl, 0) + 1 < $3 "
        "THEN 'In_Warteschlange'::communication_service.emailstatus "
        "ELSE 'Fehlgeschlagen'::communication_service.emailstatus END, "
        "updated_at = now() WHERE id = $1 AND status = 'Wird_gesendet' RETURNING status::text",
        email.id, detail, settings_.maxAttempts);
    if (r.empty()) return;
    outcome =
        r[0][0].as<std::string>() == "Fehlgeschlagen" ? SendOutcome::Failed : SendOutcome::Requeued;
  });

  switch (outcome) {
    case SendOutcome::Sent:
      sent_.add(1);
      logger_.info("email sent", {{"email_id", id}});
      break;
    case SendOutcome::Requeued:
      logger_.warn("email delivery failed transiently; queued for another attempt",
                   {{"email_id", id},
                    {"attempt", std::to_string(email.wiederholungsanzahl + 1)},
                    {"detail", result.detail}});
      break;
    case SendOutcome::Failed:
      failed_.add(1);
      logger_.warn("email failed",
                   {{"email_id", id},
                    {"attempt", std::to_string(email.wiederholungsanzahl + 1)},
                    {"permanent",
                     result.status == DeliveryResult::Status::PermanentFailure ? "true" : "false"},
                    {"detail", result.detail}});
      break;
    case SendOutcome::ClaimLost:
      logger_.warn("email was no longer claimed when recording the result (lease expired?)",
                   {{"email_id", id}, {"delivered", result.ok() ? "true" : "false"}});
      break;
  }
  return outcome;
}

std::size_t EmailSender::recoverStaleClaims() {
  std::vector<std::int64_t> ids;
  database_.transaction([&](pqxx::work& tx) {
    ids.clear();
    const pqxx::result r = tx.exec_params(
        "UPDATE communication_service.emails SET status = 'In_Warteschlange', "
        "updated_at = now() WHERE status = 'Wird_gesendet' "
        "AND updated_at < now() - make_interval(secs => $1) RETURNING id",
        static_cast<double>(settings_.claimLease.count()));
    for (const auto& row : r) ids.push_back(row[0].as<std::int64_t>());
  });
  for (std::int64_t id : ids) {
    recovered_.add(1);
    logger_.warn("recovered a stale email claim (sender crashed or timed out?)",
                 {{"email_id", std::to_string(id)},
                  {"lease_s", std::to_string(settings_.claimLease.count())}});
  }
  return ids.size();
}

std::vector<ClaimedEmail> EmailSender::claimBatch() {
  std::vector<ClaimedEmail> out;
  database_.transaction([&](pqxx::work& tx) {
    out.clear();
    // Backoff: updated_at + retry_backoff_s * 2^(attempts - 1), the exponent
    // capped so that the interval cannot overflow.
    const pqxx::result rows = tx.exec_params(
        std::string("SELECT ") + kColumns +
            " FROM communication_service.emails WHERE status = 'In_Warteschlange' "
            "AND (COALESCE(wiederholungsanzahl, 0) <= 0 OR updated_at + make_interval(secs => "
            "$2 * power(2, LEAST(COALESCE(wiederholungsanzahl, 0) - 1, 30))) <= now()) "
            "ORDER BY in_warteschlange_am ASC NULLS LAST, id ASC LIMIT $1 "
            "FOR UPDATE SKIP LOCKED",
        settings_.queueBatchSize, static_cast<double>(settings_.retryBackoff.count()));
    if (rows.empty()) return;
    const std::string claimedAt = tx.exec("SELECT now()::timestamp::text")[0][0].as<std::string>();
    std::string idArray = "{";
    for (const auto& row : rows) {
      out.push_back(rowToEmail(row));
      out.back().claimedAt = claimedAt;
      if (idArray.size() > 1) idArray += ',';
      idArray += std::to_string(out.back().id);
    }
    idArray += '}';
    tx.exec_params(
        "UPDATE communication_service.emails SET status = 'Wird_gesendet', updated_at = now() "
        "WHERE id = ANY($1::integer[])",
        idArray);
  });
  return out;
}

bool EmailSender::renewClaim(ClaimedEmail& email) {
  bool claimed = false;
  database_.transaction([&](pqxx::work& tx) {
    const pqxx::result r = tx.exec_params(
        "UPDATE communication_service.emails SET updated_at = now() WHERE id = $1 "
        "AND status = 'Wird_gesendet' AND updated_at = $2::timestamp "
        "RETURNING updated_at::text",
        email.id, email.claimedAt);
    claimed = !r.empty();
    if (claimed) email.claimedAt = r[0][0].as<std::string>();
  });
  return claimed;
}

void EmailSender::releaseClaims(const std::vector<std::int64_t>& ids) {
  if (ids.empty()) return;
  std::string idArray = "{";
  for (std::int64_t id : ids) {
    if (idArray.size() > 1) idArray += ',';
    idArray += std::to_string(id);
  }
  idArray += '}';
  database_.transaction([&](pqxx::work& tx) {
    tx.exec_params(
        "UPDATE communication_service.emails SET status = 'In_Warteschlange', updated_at = now() "
        "WHERE id = ANY($1::integer[]) AND status = 'Wird_gesendet'",
        idArray);
  });
}

QueueRun EmailSender::processQueue() {
  QueueRun run;
  run.recovered = recoverStaleClaims();
  std::vector<ClaimedEmail> batch = claimBatch();
  run.claimed = batch.size();
  for (std::size_t i = 0; i < batch.size(); ++i) {
    ClaimedEmail& email = batch[i];
    SendOutcome outcome = SendOutcome::ClaimLost;
    try {
      if (renewClaim(email)) {
        outcome = send(email);
      } else {
        logger_.warn("claim taken over before sending (lease passed); not sending",
                     {{"email_id", std::to_string(email.id)}});
      }
    } catch (const std::exception& e) {
      std::vector<std::int64_t> rest;
      for (std::size_t j = i + 1; j < batch.size(); ++j) rest.push_back(batch[j].id);
      logger_.error("email queue run stopped by a database error; the rest goes back in the queue",
                    {{"email_id", std::to_string(email.id)},
                     {"returned", std::to_string(rest.size())},
                     {"error", e.what()}});
      try {
        releaseClaims(rest);
      } catch (const std::exception& again) {
        logger_.error("could not return the claims; the lease will", {{"error", again.what()}});
      }
      break;
    }
    switch (outcome) {
      case SendOutcome::Sent:
        ++run.sent;
        break;
      case SendOutcome::Requeued:
        ++run.requeued;
        break;
      case SendOutcome::Failed:
        ++run.failed;
        break;
      case SendOutcome::ClaimLost:
        break;
    }
  }
  if (run.recovered + run.claimed > 0) {
    logger_.info("email queue run", {{"recovered", std::to_string(run.recovered)},
                                     {"claimed", std::to_string(run.claimed)},
                                     {"sent", std::to_string(run.sent)},
                                     {"requeued", std::to_string(run.requeued)},
                                     {"failed", std::to_string(run.failed)}});
  }
  return run;
}

}  // namespace commsvc::plugins::email
