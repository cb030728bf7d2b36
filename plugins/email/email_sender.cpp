#include "email_sender.hpp"

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "commsvc/backoff.hpp"
#include "commsvc/event.hpp"

namespace commsvc::plugins::email {
namespace {

// The columns a sender needs, in the order rowToEmail reads them.
constexpr const char* kColumns =
    "id, therapist_id, patient_id, betreff, inhalt_html, inhalt_text, empfaenger_email, "
    "empfaenger_name, absender_email, absender_name, "
    "COALESCE(wiederholungsanzahl, 0) AS wiederholungsanzahl, "
    "(SELECT min(token) FROM communication_service.commsvc_message_token) AS message_token, "
    "updated_at::text AS claimed_at";

// Pauses between tries of recording a result (each try already retried by
// the pool on broken connections).
constexpr std::chrono::milliseconds kRecordPauseFirst{100};
constexpr std::chrono::milliseconds kRecordPauseMax{2000};
// Emails handed to the channel in one deliverAll call at most (it delivers
// those it can start within the record interval: ~20 at ~1 ms each), so
// that few message copies are made for nothing.
constexpr std::size_t kMaxDeliveredTogether = 16;

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
  if (!row["message_token"].is_null()) e.messageToken = row["message_token"].as<std::string>();
  if (const auto at = row.column_number("claimed_at"); !row[at].is_null()) {
    e.claimedAt = row[at].as<std::string>();
  }
  e.claimedSince = std::chrono::steady_clock::now();
  return e;
}

nlohmann::json optionalId(const std::optional<std::int64_t>& id) {
  return id ? nlohmann::json(*id) : nlohmann::json(nullptr);
}

std::string failureDetail(const DeliveryResult& result) {
  if (!result.detail.empty()) return toValidUtf8(result.detail);
  switch (result.status) {
    case DeliveryResult::Status::PermanentFailure:
      return "permanent delivery failure (no detail)";
    case DeliveryResult::Status::ChannelFailure:
      return "channel unavailable (no detail)";
    default:
      return "transient delivery failure (no detail)";
  }
}

std::string idArrayOf(const std::vector<std::int64_t>& ids) {
  std::string out = "{";
  for (std::int64_t id : ids) {
    if (out.size() > 1) out += ',';
    out += std::to_string(id);
  }
  out += '}';
  return out;
}

// The length of the valid UTF-8 sequence at the start of `text`, or 0.
std::size_t utf8SequenceLength(std::string_view text) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const auto continuation = [&](std::size_t i) {
    return i < text.size() && (byte(i) & 0xC0) == 0x80;
  };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return continuation(1) ? 2 : 0;
  if (lead >= 0xE0 && lead <= 0xEF) {
    if (!continuation(1) || !continuation(2)) return 0;
    if (lead == 0xE0 && byte(1) < 0xA0) return 0;   // overlong
    if (lead == 0xED && byte(1) >= 0xA0) return 0;  // surrogates
    return 3;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    if (!continuation(1) || !continuation(2) || !continuation(3)) return 0;
    if (lead == 0xF0 && byte(1) < 0x90) return 0;   // overlong
    if (lead == 0xF4 && byte(1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

}  // namespace

std::string toValidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    const std::size_t n = utf8SequenceLength(text);
    if (n > 0) {
      if (text[0] != '\0') out.append(text.substr(0, n));
      text.remove_prefix(n);
      continue;
    }
    const auto latin1 = static_cast<unsigned char>(text[0]);
    out += static_cast<char>(0xC0 | (latin1 >> 6));
    out += static_cast<char>(0x80 | (latin1 & 0x3F));
    text.remove_prefix(1);
  }
  return out;
}

Message toMessage(const ClaimedEmail& email) {
  Message m;
  m.id = std::to_string(email.id);
  m.stableId = "email-" + m.id;
  if (!email.messageToken.empty()) m.stableId += "." + email.messageToken;
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
                         Metrics& metrics, SenderSettings settings, const Shutdown& shutdown,
                         contact::PatientContact contact)
    : database_(database),
      channel_(channel),
      outbox_(outbox),
      logger_(logger),
      settings_(settings),
      contact_(std::move(contact)),
      shutdown_(shutdown),
      sent_(metrics.counter("emails_sent_total", "emails that reached status Gesendet")),
      failed_(metrics.counter("emails_failed_total", "emails that reached status Fehlgeschlagen")),
      recovered_(metrics.counter(
          "email_claims_recovered_total",
          "Wird_gesendet claims that outlived their lease (a sender crashed or could not record "
          "its result): each may be sent again, under the same Message-ID")),
      held_(metrics.counter("emails_held_total",
                            "claimed emails put back in the queue without an attempt because "
                            "the channel itself failed (session refused) or shutdown began")) {}

ClaimResult EmailSender::claim(std::int64_t id) {
  ClaimResult out;
  database_.transaction([&](pqxx::work& tx) {
    out = {};
    static const std::string kClaim =
        std::string(
            "UPDATE communication_service.emails SET status = 'Wird_gesendet', "
            "updated_at = now() WHERE id = $1 AND status = 'In_Warteschlange' "
            "RETURNING ") +
        kColumns;
    const pqxx::result claimed = commsvc::execPrepared(tx, kClaim, id);
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

std::vector<ClaimResult> EmailSender::claimAll(const std::vector<std::int64_t>& ids) {
  std::vector<ClaimResult> out;
  if (ids.empty()) return out;
  const std::string idArray = idArrayOf(ids);
  database_.transaction([&](pqxx::work& tx) {
    out.assign(ids.size(), ClaimResult{});
    static const std::string kClaimAll =
        std::string(
            "UPDATE communication_service.emails SET status = 'Wird_gesendet', "
            "updated_at = now() WHERE id = ANY($1::integer[]) "
            "AND status = 'In_Warteschlange' RETURNING ") +
        kColumns;
    const pqxx::result claimed = commsvc::execPrepared(tx, kClaimAll, idArray);
    std::unordered_map<std::int64_t, std::size_t> index;
    for (std::size_t i = 0; i < ids.size(); ++i) index.emplace(ids[i], i);
    std::size_t missing = ids.size();
    for (const auto& row : claimed) {
      ClaimResult& result = out[index.at(row["id"].as<std::int64_t>())];
      result.status = ClaimStatus::Claimed;
      result.email = rowToEmail(row);
      --missing;
    }
    if (missing == 0) return;
    const pqxx::result current = tx.exec_params(
        "SELECT id, COALESCE(status::text, 'NULL') FROM communication_service.emails "
        "WHERE id = ANY($1::integer[])",
        idArray);
    for (const auto& row : current) {
      ClaimResult& result = out[index.at(row[0].as<std::int64_t>())];
      if (result.status == ClaimStatus::Claimed) continue;
      result.status = ClaimStatus::NotQueued;
      result.currentStatus = row[1].as<std::string>();
    }
  });
  return out;
}

SendOutcome EmailSender::send(const ClaimedEmail& email) {
  std::vector<ClaimedEmail> one{email};
  const BatchOutcome done = sendAll(one);
  if (done.error) std::rethrow_exception(done.error);
  return done.outcomes.front().value_or(SendOutcome::ClaimLost);
}

BatchOutcome EmailSender::sendAll(std::vector<ClaimedEmail>& emails) {
  using Clock = std::chrono::steady_clock;
  BatchOutcome out;
  out.outcomes.resize(emails.size());
  std::vector<Delivery> pending;   // delivered, not recorded yet
  Clock::time_point pendingSince;  // when the oldest of them started
  const auto fail = [&](const std::exception& e) {
    out.error = std::current_exception();
    out.errorText = e.what();
  };
  const auto flush = [&] {
    if (pending.empty() || out.error) return !out.error;
    try {
      recordWithRetries(emails, pending, out.outcomes);
    } catch (const std::exception& e) {
      fail(e);
      return false;
    }
    pending.clear();
    return true;
  };
  const auto renewAge = std::chrono::duration_cast<Clock::duration>(settings_.claimLease) / 4;
  std::size_t next = 0;  // the first email not delivered
  const char* stopReason = nullptr;
  std::vector<Message> messages;     // handed to the channel together
  std::vector<std::size_t> indices;  // their emails
  while (next < emails.size()) {
    if (out.outcomes[next]) {  // lost at a renewal
      ++next;
      continue;
    }
    if (shutdown_.requested()) {
      stopReason = "shutdown began: the rest of the batch goes back in the queue";
      break;
    }
    const auto now = Clock::now();
    if (!pending.empty() && now - pendingSince >= settings_.recordInterval && !flush()) break;
    if (now - emails[next].claimedSince >= renewAge) {
      if (!flush()) break;
      try {
        renewAll(emails, next, out.outcomes);
      } catch (const std::exception& e) {
        fail(e);
        break;
      }
      if (out.outcomes[next]) continue;
    }
    // The channel takes the emails from `next` on and delivers as many as it
    // can start within what is left of the record interval (always one).
    // The claims need no renewal meanwhile: one call is bounded by the
    // channel's worst-case delivery time, which the lease covers twice.
    if (pending.empty()) pendingSince = Clock::now();
    const auto budget = std::max(
        std::chrono::milliseconds(0),
        settings_.recordInterval -
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - pendingSince));
    // With no budget the channel attempts the first alone: copy no more.
    const std::size_t most = budget.count() > 0 ? kMaxDeliveredTogether : 1;
    messages.clear();
    indices.clear();
    for (std::size_t i = next; i < emails.size() && messages.size() < most; ++i) {
      if (out.outcomes[i]) continue;
      messages.push_back(toMessage(emails[i]));
      indices.push_back(i);
    }
    std::vector<DeliveryResult> results = channel_.deliverAll(messages, budget);
    if (results.empty()) {
      stopReason = "the channel attempted none of the emails: they go back in the queue";
      break;
    }
    results.resize(std::min(results.size(), messages.size()));
    bool channelFailed = false;
    for (std::size_t j = 0; j < results.size(); ++j) {
      channelFailed = results[j].status == DeliveryResult::Status::ChannelFailure;
      pending.push_back({indices[j], std::move(results[j])});
      if (channelFailed) break;  // none after it was attempted
    }
    next = pending.back().index + 1;
    if (channelFailed) {
      stopReason = "the channel is unavailable: the rest of the batch goes back in the queue";
      break;
    }
  }
  flush();
  // Delivered but not recorded (a database error): the claims stay until
  // their lease; nothing to do. Not delivered: back in the queue.
  std::vector<std::int64_t> rest;
  for (std::size_t i = next; i < emails.size(); ++i) {
    if (!out.outcomes[i]) rest.push_back(emails[i].id);
  }
  if (!rest.empty()) {
    if (stopReason == nullptr) stopReason = "the rest of the batch goes back in the queue";
    logger_.warn(stopReason, {{"returned", std::to_string(rest.size())}});
    try {
      releaseClaims(rest);
      held_.add(static_cast<double>(rest.size()));
      for (std::size_t i = next; i < emails.size(); ++i) {
        if (!out.outcomes[i]) out.outcomes[i] = SendOutcome::Held;
      }
    } catch (const std::exception& again) {
      logger_.error("could not return the claims; the lease will", {{"error", again.what()}});
    }
  }
  return out;
}

void EmailSender::renewAll(std::vector<ClaimedEmail>& emails, std::size_t from,
                           std::vector<std::optional<SendOutcome>>& outcomes) {
  std::vector<std::int64_t> ids;
  std::string ats = "{";
  for (std::size_t i = from; i < emails.size(); ++i) {
    if (outcomes[i]) continue;
    ids.push_back(emails[i].id);
    if (ats.size() > 1) ats += ',';
    ats += '"' + emails[i].claimedAt + '"';
  }
  ats += '}';
  if (ids.empty()) return;
  std::unordered_map<std::int64_t, std::string> renewed;
  database_.transaction([&](pqxx::work& tx) {
    renewed.clear();
    static const std::string kRenew =
        "UPDATE communication_service.emails e SET updated_at = now() "
        "FROM unnest($1::integer[], $2::timestamp[]) AS c(id, claimed_at) "
        "WHERE e.id = c.id AND e.status = 'Wird_gesendet' AND e.updated_at = c.claimed_at "
        "RETURNING e.id, e.updated_at::text";
    const pqxx::result r = commsvc::execPrepared(tx, kRenew, idArrayOf(ids), ats);
    for (const auto& row : r) renewed.emplace(row[0].as<std::int64_t>(), row[1].as<std::string>());
  });
  const auto now = std::chrono::steady_clock::now();
  for (std::size_t i = from; i < emails.size(); ++i) {
    if (outcomes[i]) continue;
    const auto it = renewed.find(emails[i].id);
    if (it == renewed.end()) {
      outcomes[i] = SendOutcome::ClaimLost;
      logger_.warn("claim taken over before sending (lease passed); not sending",
                   {{"email_id", std::to_string(emails[i].id)}});
      continue;
    }
    emails[i].claimedAt = it->second;
    emails[i].claimedSince = now;
  }
}

void EmailSender::recordWithRetries(const std::vector<ClaimedEmail>& emails,
                                    const std::vector<Delivery>& deliveries,
                                    std::vector<std::optional<SendOutcome>>& outcomes) {
  // Past half the lease another sender may take a row over; past the
  // shutdown deadline the engine stops waiting. Until then a result is
  // worth recording: a delivered email must not be handed out again.
  auto oldest = emails[deliveries.front().index].claimedSince;
  for (const Delivery& d : deliveries) oldest = std::min(oldest, emails[d.index].claimedSince);
  const auto deadline = std::min(
      oldest +
          std::chrono::duration_cast<std::chrono::steady_clock::duration>(settings_.claimLease) / 2,
      shutdown_.deadline());
  Backoff backoff(kRecordPauseFirst, kRecordPauseMax);
  for (int attempt = 1;; ++attempt) {
    try {
      record(emails, deliveries, outcomes);
      return;
    } catch (const std::exception& e) {
      const auto pause = backoff.next();
      std::string ids;
      for (const Delivery& d : deliveries) {
        if (!ids.empty()) ids += ',';
        ids += std::to_string(emails[d.index].id);
      }
      if (std::chrono::steady_clock::now() + pause >= deadline) {
        logger_.error(
            "could not record the delivery results; the claims stay until their lease "
            "expires",
            {{"email_ids", ids}, {"tries", std::to_string(attempt)}, {"error", e.what()}});
        throw;
      }
      if (attempt == 1) {
        logger_.warn("could not record the delivery results; retrying",
                     {{"email_ids", ids}, {"error", e.what()}});
      }
      std::this_thread::sleep_for(pause);
    }
  }
}

void EmailSender::record(const std::vector<ClaimedEmail>& emails,
                         const std::vector<Delivery>& deliveries,
                         std::vector<std::optional<SendOutcome>>& outcomes) {
  std::vector<SendOutcome> recorded(deliveries.size(), SendOutcome::ClaimLost);
  std::vector<std::int64_t> delivered;
  for (const Delivery& d : deliveries) {
    if (d.result.ok()) delivered.push_back(emails[d.index].id);
  }
  database_.transaction([&](pqxx::work& tx) {
    std::fill(recorded.begin(), recorded.end(), SendOutcome::ClaimLost);
    std::unordered_set<std::int64_t> sent;
    if (!delivered.empty()) {
      // Also from In_Warteschlange: a lease recovered meanwhile must not
      // make the delivered email go out again.
      static const std::string kSent =
          "UPDATE communication_service.emails SET status = 'Gesendet', gesendet_am = now(), "
          "fehlermeldung = NULL, updated_at = now() WHERE id = ANY($1::integer[]) "
          "AND status IN ('Wird_gesendet', 'In_Warteschlange') RETURNING id";
      const pqxx::result r = commsvc::execPrepared(tx, kSent, idArrayOf(delivered));
      for (const auto& row : r) sent.insert(row[0].as<std::int64_t>());
    }
    std::vector<Event> events;  // email.sent of each email recorded Gesendet, in order
    for (std::size_t k = 0; k < deliveries.size(); ++k) {
      const ClaimedEmail& email = emails[deliveries[k].index];
      const DeliveryResult& result = deliveries[k].result;
      if (result.ok()) {
        if (!sent.contains(email.id)) continue;
        events.push_back(
            makeEvent("email.sent", std::to_string(email.id), emailSentPayload(email)));
        if (email.patientId) contact_.add(tx, *email.patientId, "email", email.id);
        recorded[k] = SendOutcome::Sent;
        continue;
      }
      const std::string detail = failureDetail(result);
      if (result.status == DeliveryResult::Status::ChannelFailure) {
        const pqxx::result r = tx.exec_params(
            "UPDATE communication_service.emails SET status = 'In_Warteschlange', "
            "fehlermeldung = $2, updated_at = now() WHERE id = $1 AND status = 'Wird_gesendet' "
            "RETURNING id",
            email.id, "not sent yet, the channel is unavailable: " + detail);
        if (!r.empty()) recorded[k] = SendOutcome::Held;
        continue;
      }
      if (result.status == DeliveryResult::Status::PermanentFailure) {
        const pqxx::result r = tx.exec_params(
            "UPDATE communication_service.emails SET status = 'Fehlgeschlagen', "
            "fehlermeldung = $2, wiederholungsanzahl = COALESCE(wiederholungsanzahl, 0) + 1, "
            "updated_at = now() WHERE id = $1 AND status = 'Wird_gesendet' RETURNING id",
            email.id, detail);
        if (!r.empty()) recorded[k] = SendOutcome::Failed;
        continue;
      }
      const pqxx::result r = tx.exec_params(
          "UPDATE communication_service.emails SET "
          "wiederholungsanzahl = COALESCE(wiederholungsanzahl, 0) + 1, fehlermeldung = $2, "
          "status = CASE WHEN COALESCE(wiederholungsanzahl, 0) + 1 < $3 "
          "THEN 'In_Warteschlange'::public.emailstatus "
          "ELSE 'Fehlgeschlagen'::public.emailstatus END, "
          "updated_at = now() WHERE id = $1 AND status = 'Wird_gesendet' RETURNING status::text",
          email.id, detail, settings_.maxAttempts);
      if (r.empty()) continue;
      recorded[k] = r[0][0].as<std::string>() == "Fehlgeschlagen" ? SendOutcome::Failed
                                                                  : SendOutcome::Requeued;
    }
    outbox_.addAll(tx, events);
  });
  for (std::size_t k = 0; k < deliveries.size(); ++k) {
    const std::size_t i = deliveries[k].index;
    outcomes[i] = recorded[k];
    report(emails[i], deliveries[k].result, recorded[k]);
  }
}

void EmailSender::report(const ClaimedEmail& email, const DeliveryResult& result,
                         SendOutcome outcome) {
  const std::string id = std::to_string(email.id);
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
    case SendOutcome::Held:
      held_.add(1);
      logger_.warn("channel unavailable; email stays queued, no attempt counted",
                   {{"email_id", id}, {"detail", result.detail}});
      break;
  }
}

std::size_t EmailSender::recoverStaleClaims() {
  std::vector<std::pair<std::int64_t, std::string>> rows;
  database_.transaction([&](pqxx::work& tx) {
    rows.clear();
    const pqxx::result r = tx.exec_params(
        "UPDATE communication_service.emails SET "
        "wiederholungsanzahl = COALESCE(wiederholungsanzahl, 0) + 1, "
        "status = CASE WHEN COALESCE(wiederholungsanzahl, 0) + 1 < $2 "
        "THEN 'In_Warteschlange'::public.emailstatus "
        "ELSE 'Fehlgeschlagen'::public.emailstatus END, "
        "fehlermeldung = 'the claim outlived its lease of ' || $1 || ' s without a recorded "
        "result (the sender crashed or could not reach the database); it may have been "
        "delivered', updated_at = now() WHERE status = 'Wird_gesendet' "
        "AND COALESCE(updated_at, created_at, '-infinity') < now() - make_interval(secs => $1) "
        "RETURNING id, status::text",
        static_cast<double>(settings_.claimLease.count()), settings_.maxAttempts);
    for (const auto& row : r)
      rows.emplace_back(row[0].as<std::int64_t>(), row[1].as<std::string>());
  });
  for (const auto& [id, status] : rows) {
    recovered_.add(1);
    if (status == "Fehlgeschlagen") failed_.add(1);
    logger_.warn("recovered a stale email claim (sender crashed or could not record its result)",
                 {{"email_id", std::to_string(id)},
                  {"lease_s", std::to_string(settings_.claimLease.count())},
                  {"status", status}});
  }
  return rows.size();
}

std::vector<ClaimedEmail> EmailSender::claimBatch() {
  std::vector<ClaimedEmail> out;
  database_.transaction([&](pqxx::work& tx) {
    out.clear();
    // Backoff: updated_at + retry_backoff_s * 2^(attempts - 1), the exponent
    // capped so that the interval cannot overflow. The original service's
    // table has no timestamp defaults: a NULL updated_at falls back to
    // created_at, then counts as long ago (also for stale claims).
    const pqxx::result rows = tx.exec_params(
        std::string("SELECT ") + kColumns +
            " FROM communication_service.emails WHERE status = 'In_Warteschlange' "
            "AND (COALESCE(wiederholungsanzahl, 0) <= 0 "
            "OR COALESCE(updated_at, created_at, '-infinity') + make_interval(secs => "
            "$2 * power(2, LEAST(COALESCE(wiederholungsanzahl, 0) - 1, 30))) <= now()) "
            "ORDER BY in_warteschlange_am ASC NULLS LAST, id ASC LIMIT $1 "
            "FOR UPDATE SKIP LOCKED",
        settings_.queueBatchSize, static_cast<double>(settings_.retryBackoff.count()));
    if (rows.empty()) return;
    const std::string claimedAt = tx.exec("SELECT now()::timestamp::text")[0][0].as<std::string>();
    std::vector<std::int64_t> ids;
    for (const auto& row : rows) {
      out.push_back(rowToEmail(row));
      out.back().claimedAt = claimedAt;
      ids.push_back(out.back().id);
    }
    tx.exec_params(
        "UPDATE communication_service.emails SET status = 'Wird_gesendet', updated_at = now() "
        "WHERE id = ANY($1::integer[])",
        idArrayOf(ids));
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
  if (claimed) email.claimedSince = std::chrono::steady_clock::now();
  return claimed;
}

void EmailSender::releaseClaims(const std::vector<std::int64_t>& ids) {
  if (ids.empty()) return;
  const std::string idArray = idArrayOf(ids);
  database_.transaction([&](pqxx::work& tx) {
    tx.exec_params(
        "UPDATE communication_service.emails SET status = 'In_Warteschlange', updated_at = now() "
        "WHERE id = ANY($1::integer[]) AND status = 'Wird_gesendet'",
        idArray);
  });
}

QueueRun EmailSender::processQueue() {
  QueueRun run;
  if (shutdown_.requested()) return run;
  run.recovered = recoverStaleClaims();
  std::vector<ClaimedEmail> batch = claimBatch();
  run.claimed = batch.size();
  const BatchOutcome done = sendAll(batch);
  for (const auto& outcome : done.outcomes) {
    if (!outcome) continue;
    switch (*outcome) {
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
      case SendOutcome::Held:
        ++run.held;
        break;
    }
  }
  if (done.error) {
    logger_.error("email queue run stopped by a database error", {{"error", done.errorText}});
  }
  if (run.recovered + run.claimed > 0) {
    logger_.info("email queue run", {{"recovered", std::to_string(run.recovered)},
                                     {"claimed", std::to_string(run.claimed)},
                                     {"sent", std::to_string(run.sent)},
                                     {"requeued", std::to_string(run.requeued)},
                                     {"failed", std::to_string(run.failed)},
                                     {"held", std::to_string(run.held)}});
  }
  return run;
}

}  // namespace commsvc::plugins::email
