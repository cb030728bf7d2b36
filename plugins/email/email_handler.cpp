#include "email_handler.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <unordered_map>
#include <utility>

#include "commsvc/database.hpp"
#include "commsvc/outbox.hpp"

namespace commsvc::plugins::email {

std::optional<std::int64_t> parseEmailId(const std::string& payload, std::string& error) {
  const nlohmann::json json = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    error = "payload is not valid JSON";
    return std::nullopt;
  }
  if (!json.is_object()) {
    error = "payload is not a JSON object";
    return std::nullopt;
  }
  const auto it = json.find("email_id");
  if (it == json.end() || it->is_null()) {
    error = "payload has no email_id";
    return std::nullopt;
  }
  if (!it->is_number_integer()) {
    error = "email_id is not an integer: " + it->dump();
    return std::nullopt;
  }
  if (it->is_number_unsigned() && it->get<std::uint64_t>() > 2147483647u) {
    error = "email_id is out of range: " + it->dump();
    return std::nullopt;
  }
  return it->get<std::int64_t>();
}

EmailHandler::EmailHandler(std::unique_ptr<EmailSender> sender, Logger& logger)
    : sender_(std::move(sender)), logger_(logger) {}

HandleResult EmailHandler::handle(const Event& event) {
  return handleBatch(std::span<const Event>(&event, 1)).front();
}

std::vector<HandleResult> EmailHandler::handleBatch(std::span<const Event> events) {
  std::vector<HandleResult> results(events.size());
  // The distinct ids in order, and for each event the index of its id
  // (npos: invalid payload), and whether an earlier event named it.
  constexpr std::size_t npos = static_cast<std::size_t>(-1);
  std::vector<std::int64_t> ids;
  std::vector<std::size_t> idOf(events.size(), npos);
  std::vector<bool> repeated(events.size(), false);
  std::unordered_map<std::int64_t, std::size_t> seen;
  for (std::size_t k = 0; k < events.size(); ++k) {
    std::string error;
    const std::optional<std::int64_t> id = parseEmailId(events[k].payload, error);
    if (!id) {
      results[k] = HandleResult::reject(error);
      continue;
    }
    const auto [it, added] = seen.emplace(*id, ids.size());
    if (added) ids.push_back(*id);
    idOf[k] = it->second;
    repeated[k] = !added;
  }
  if (ids.empty()) return results;

  std::vector<ClaimResult> claims;
  try {
    claims = sender_->claimAll(ids);
  } catch (const std::exception& e) {
    for (std::size_t k = 0; k < events.size(); ++k) {
      if (idOf[k] == npos) continue;
      results[k] = HandleResult::retry("database error claiming email " +
                                       std::to_string(ids[idOf[k]]) + ": " + e.what());
    }
    return results;
  }

  std::vector<ClaimedEmail> batch;
  std::vector<std::size_t> batchIndex(ids.size(), npos);
  for (std::size_t k = 0; k < events.size(); ++k) {
    if (idOf[k] == npos) continue;
    const std::string idText = std::to_string(ids[idOf[k]]);
    if (repeated[k]) {
      logger_.info("email not sent again: an earlier event of the same batch named it",
                   {{"email_id", idText}, {"event_id", events[k].id}});
      continue;
    }
    ClaimResult& claim = claims[idOf[k]];
    switch (claim.status) {
      case ClaimStatus::Unknown:
        results[k] = HandleResult::reject("unknown email_id " + idText);
        break;
      case ClaimStatus::NotQueued:
        logger_.info(
            "email not sent: only In_Warteschlange emails are sent by an event",
            {{"email_id", idText}, {"status", claim.currentStatus}, {"event_id", events[k].id}});
        break;
      case ClaimStatus::Claimed:
        batchIndex[idOf[k]] = batch.size();
        batch.push_back(std::move(*claim.email));
        break;
    }
  }
  if (batch.empty()) return results;

  const BatchOutcome sent = sender_->sendAll(batch);
  for (std::size_t k = 0; k < events.size(); ++k) {
    if (idOf[k] == npos || repeated[k] || batchIndex[idOf[k]] == npos) continue;
    const std::string idText = std::to_string(ids[idOf[k]]);
    const std::optional<SendOutcome>& outcome = sent.outcomes[batchIndex[idOf[k]]];
    if (!outcome) {
      results[k] =
          HandleResult::retry("database error recording email " + idText + ": " + sent.errorText);
    } else if (*outcome == SendOutcome::Held) {
      logger_.info("email stays queued for the queue processor (channel unavailable or shutdown)",
                   {{"email_id", idText}, {"event_id", events[k].id}});
    }
  }
  return results;
}

void checkLease(const SenderSettings& settings, const Channel& channel) {
  const auto worst = channel.worstCaseDeliveryTime();
  const auto lease = std::chrono::duration_cast<std::chrono::milliseconds>(settings.claimLease);
  if (worst.count() > 0 && lease < 2 * worst) {
    const auto seconds = [](std::chrono::milliseconds d) { return (d.count() + 999) / 1000; };
    throw ConfigError("claim_lease_s (" + std::to_string(settings.claimLease.count()) +
                      ") is shorter than twice the channel's worst-case delivery time (" +
                      std::to_string(seconds(worst)) +
                      " s from its timeouts): a slow but successful send would be handed out "
                      "again and sent twice; set claim_lease_s to at least " +
                      std::to_string(seconds(2 * worst)) + " or lower the channel's timeouts");
  }
}

std::unique_ptr<Handler> createEmailHandler(const EmailSettings& settings, Context& context) {
  Channel* channel = context.channel();
  Database* database = context.database();
  Outbox* outbox = context.outbox();
  if (channel == nullptr) {
    throw ConfigError(
        "the email handler needs `channel:` in its handler entry (the channel "
        "emails are delivered through, e.g. smtp)");
  }
  if (database == nullptr) {
    throw ConfigError("the email handler needs a database: set `database.url` in the pipeline");
  }
  if (outbox == nullptr) {
    throw ConfigError(
        "the email handler needs `publisher:` in its handler entry: email.sent "
        "events go through the outbox to that publisher");
  }
  checkLease(settings.sender, *channel);
  const contact::PatientContact contact(settings.contact, context);
  auto sender = std::make_unique<EmailSender>(*database, *channel, *outbox, context.logger(),
                                              context.metrics(), settings.sender,
                                              context.shutdown(), contact);
  EmailSender* processor = sender.get();
  Logger* logger = &context.logger();
  auto handler = std::make_unique<EmailHandler>(std::move(sender), context.logger());
  // The engine waits for a running job and stops the schedule before it
  // destroys the handler, which owns the sender.
  const auto batchSize = static_cast<std::size_t>(settings.sender.queueBatchSize);
  context.scheduleOnNotify(
      kQueueJobName, settings.sender.queueCheckInterval, kQueuedChannel,
      [processor, logger, batchSize] {
        try {
          const QueueRun run = processor->processQueue();
          // A full batch that went out: more may be waiting.
          return run.claimed >= batchSize && run.held == 0;
        } catch (const std::exception& e) {
          logger->warn("email queue run failed; next run retries", {{"error", e.what()}});
          return false;
        }
      });
  registerEmailRoutes(context, std::make_shared<EmailApi>(*database, *outbox, *channel,
                                                          context.logger(), settings.api, contact));
  return handler;
}

}  // namespace commsvc::plugins::email
