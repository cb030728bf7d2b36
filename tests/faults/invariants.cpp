#include "invariants.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <sstream>

namespace commsvc::faults {

using namespace std::chrono_literals;
using nlohmann::json;

namespace {

bool equalsIgnoreCase(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return s.substr(i);
}

// The email id a message is about: its subject is "fault-email-<id>".
std::optional<std::int64_t> emailIdOf(const std::string& message) {
  const std::string subject = headerValue(message, "Subject");
  const std::string prefix = "fault-email-";
  if (subject.rfind(prefix, 0) != 0) return std::nullopt;
  try {
    return std::stoll(subject.substr(prefix.size()));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// email.sent events on the topic: email id -> eventIds (one per record).
std::map<std::int64_t, std::vector<std::string>> emailSentEvents(FaultCluster& cluster) {
  std::map<std::int64_t, std::vector<std::string>> out;
  for (const auto& record : integration::consumeWithKcat(cluster.broker().bootstrap(), "events")) {
    const auto tab1 = record.find('\t');
    const auto tab2 = record.find('\t', tab1 + 1);
    if (tab2 == std::string::npos) continue;
    const json value = json::parse(record.substr(tab2 + 1), nullptr, false);
    if (value.is_discarded() || !value.is_object() || value.value("eventType", "") != "email.sent")
      continue;
    const auto& payload = value["payload"];
    if (!payload.is_object() || !payload["email_id"].is_number_integer()) continue;
    out[payload["email_id"].get<std::int64_t>()].push_back(value.value("eventId", ""));
  }
  return out;
}

std::string journalSummary(const std::vector<std::string>& lines) {
  std::map<std::string, std::size_t> counts;
  for (const auto& line : lines) {
    const json entry = json::parse(line, nullptr, false);
    if (entry.is_discarded()) continue;
    std::string key = entry.value("event", "?");
    if (entry.contains("code") && key != "stored") key += std::to_string(entry["code"].get<int>());
    ++counts[key];
  }
  std::string out;
  for (const auto& [key, n] : counts) {
    if (!out.empty()) out += ',';
    out += key + ":" + std::to_string(n);
  }
  return out.empty() ? "-" : out;
}

std::string figuresLine(const Expectations& e, const Figures& f) {
  std::ostringstream s;
  s << "[fault-figures] " << e.scenario << ": emails=" << f.emails << " gesendet=" << f.rowsSent
    << " wird_gesendet=" << f.rowsSending << " fehlgeschlagen=" << f.rowsFailed
    << " in_warteschlange=" << f.rowsQueued << " messages=" << f.messages
    << " distinct_message_ids=" << f.distinctMessageIds
    << " emails_with_several_message_ids=" << f.emailsSeveralIds
    << " emails_delivered=" << f.emailsDelivered << " resends=" << f.resends << " (bound "
    << e.resendBound << ") email_sent_records=" << f.sentRecords
    << " email_sent_events=" << f.sentEvents << " emails_without_email_sent=" << f.emailsWithoutSent
    << " emails_with_several_email_sent=" << f.emailsSeveralSent
    << " dead_lettered=" << f.deadLettered << " smtp_journal=" << f.journal
    << " claims_recovered_metric=" << f.claimsRecovered;
  if (f.unattributed > 0) s << " unattributed_messages=" << f.unattributed;
  if (!e.extra.empty()) s << " " << e.extra;
  return s.str();
}

}  // namespace

std::string headerValue(const std::string& message, const std::string& name) {
  std::istringstream in(message);
  std::string line;
  std::string current;  // the header being unfolded
  std::string found;
  bool inWanted = false;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) break;  // end of the header section
    if (line[0] == ' ' || line[0] == '\t') {
      if (inWanted) found += " " + trim(line);
      continue;
    }
    if (inWanted) return trim(found);
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    if (equalsIgnoreCase(line.substr(0, colon), name)) {
      inWanted = true;
      found = trim(line.substr(colon + 1));
    }
  }
  return inWanted ? trim(found) : "";
}

Figures checkInvariants(FaultCluster& cluster, const std::vector<std::int64_t>& ids,
                        const Expectations& expect) {
  Figures f;
  f.emails = ids.size();
  const std::set<std::int64_t> wanted(ids.begin(), ids.end());

  // Rows.
  std::map<std::int64_t, std::string> status;
  {
    pqxx::connection c(cluster.postgres().url());
    pqxx::work tx(c);
    for (const auto& row :
         tx.exec("SELECT id, status::text FROM communication_service.emails ORDER BY id")) {
      status[row[0].as<std::int64_t>()] = row[1].as<std::string>();
    }
  }
  for (std::int64_t id : ids) {
    const std::string& s = status[id];
    f.rowsSent += s == "Gesendet";
    f.rowsSending += s == "Wird_gesendet";
    f.rowsFailed += s == "Fehlgeschlagen";
    f.rowsQueued += s == "In_Warteschlange";
  }

  // Messages at the SMTP server, by email.
  std::map<std::int64_t, std::vector<std::string>> messageIds;  // email id -> Message-IDs
  std::set<std::string> allMessageIds;
  for (const auto& message : cluster.sink().messages()) {
    ++f.messages;
    const auto id = emailIdOf(message);
    if (!id || !wanted.count(*id)) {
      ++f.unattributed;
      continue;
    }
    const std::string messageId = headerValue(message, "Message-ID");
    messageIds[*id].push_back(messageId);
    allMessageIds.insert(messageId);
  }
  f.distinctMessageIds = allMessageIds.size();
  f.emailsDelivered = messageIds.size();
  f.resends = (f.messages - f.unattributed) - f.emailsDelivered;
  for (const auto& [id, list] : messageIds) {
    const std::set<std::string> distinct(list.begin(), list.end());
    if (distinct.size() > 1) {
      ++f.emailsSeveralIds;
      if (f.examples.size() < 5) {
        std::string ex = "email " + std::to_string(id) + " under " +
                         std::to_string(distinct.size()) + " Message-IDs:";
        for (const auto& m : distinct) ex += " " + m;
        f.examples.push_back(ex);
      }
    }
  }

  // email.sent on the topic: wait (bounded) until every sent row's event is there.
  std::map<std::int64_t, std::vector<std::string>> sent;
  integration::waitFor(
      [&] {
        sent = emailSentEvents(cluster);
        for (std::int64_t id : ids) {
          if (status[id] == "Gesendet" && !sent.count(id)) return false;
        }
        return true;
      },
      30s);
  for (std::int64_t id : ids) {
    const auto it = sent.find(id);
    if (it == sent.end()) {
      ++f.emailsWithoutSent;
      continue;
    }
    f.sentRecords += it->second.size();
    const std::set<std::string> events(it->second.begin(), it->second.end());
    f.sentEvents += events.size();
    if (events.size() > 1) ++f.emailsSeveralSent;
  }
  f.deadLettered = integration::consumeWithKcat(cluster.broker().bootstrap(), "events.dlq").size();
  f.journal = journalSummary(cluster.sink().journal());
  const auto [recovered, instances] = cluster.finalCounter("email_claims_recovered_total");
  f.claimsRecovered = std::to_string(static_cast<long long>(recovered)) + "(" +
                      std::to_string(instances) + "_instances)";

  const std::string line = figuresLine(expect, f);
  std::cout << line << std::endl;
  {
    std::ofstream log(std::filesystem::path(COMMSVC_TEST_SCRATCH) / "fault-figures.log",
                      std::ios::app);
    log << line << "\n";
  }
  std::string examples;
  for (const auto& e : f.examples) examples += "\n  " + e;
  // Each failure names its invariant; the figures are the line printed above.

  // The invariants.
  EXPECT_EQ(f.rowsSent, f.emails) << "every queued email Gesendet";
  EXPECT_EQ(f.rowsSending, 0u) << "no row left Wird_gesendet";
  EXPECT_EQ(f.emailsDelivered, f.emails) << "every email at the SMTP server";
  EXPECT_EQ(f.unattributed, 0u) << "only the scenario's emails at the server";
  EXPECT_EQ(f.emailsSeveralIds, 0u) << "each email under one Message-ID" << examples;
  EXPECT_EQ(f.distinctMessageIds, f.emailsDelivered) << "distinct Message-IDs == emails delivered";
  EXPECT_LE(f.resends, expect.resendBound)
      << "resends only where a crash fell between the 250 and the database update";
  EXPECT_EQ(f.emailsWithoutSent, 0u) << "an email.sent for every email";
  EXPECT_EQ(f.emailsSeveralSent, 0u) << "one email.sent event (eventId) per email";
  if (!expect.republishAllowed) {
    EXPECT_EQ(f.sentRecords, f.sentEvents) << "no email.sent event on the topic twice";
  }
  return f;
}

}  // namespace commsvc::faults
