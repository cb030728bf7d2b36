// The communication service end to end: the commsvc binary with the email,
// transport-smtp and publisher-kafka plugins against a real PostgreSQL, an
// embedded broker process over TCP and a real SMTP server process.
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <set>
#include <sstream>
#include <thread>

#include "../support/postgres.hpp"
#include "harness.hpp"

namespace commsvc::integration {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

/// One service deployment: database, broker, SMTP server; engines on demand.
class EmailService {
 public:
  explicit EmailService(const std::string& name, std::vector<std::string> sinkArgs = {})
      : dir_(name), broker_(dir_, {"events", "events.dlq"}, 3), sink_(dir_, "smtp", sinkArgs) {}

  /// The SMTP channel's timeout_ms (the claim lease must be at least six times it).
  long smtpTimeoutMs_ = 10000;

  /// Writes a pipeline file; `handlerExtra` adds YAML keys to the email handler.
  std::filesystem::path writeConfig(const std::string& name, const std::string& handlerExtra) {
    std::ostringstream y;
    y << "plugins: [email, phonecall, transport-smtp, publisher-kafka]\n"
      << "engine: { workers: 4, shutdown_timeout_ms: 10000, retry_backoff_ms: 50 }\n"
      << "kafka:\n"
      << "  brokers: \"" << broker_.bootstrap() << "\"\n"
      << "  topic: events\n  group: communication-service\n  dead_letter_topic: events.dlq\n"
      << "  commit_interval_ms: 100\n"
      << "  consumer_properties: { session.timeout.ms: \"6000\", heartbeat.interval.ms: \"500\" }\n"
      << "database: { url: \"" << postgres_.url() << "\" }\n"
      << "http: { port: 0, address: 127.0.0.1, admin_address: \"127.0.0.1:0\" }\n"
      << "channels:\n"
      << "  smtp: { type: smtp, host: 127.0.0.1, port: " << sink_.port()
      << ", tls: none, pool_size: 2, timeout_ms: " << smtpTimeoutMs_
      << ", from_address: noreply@example.org }\n"
      << "publishers:\n"
      << "  events: { type: kafka, properties: { message.timeout.ms: \"3000\" } }\n"
      << "handlers:\n"
      << "  - { event: communication.send_email, type: email, channel: smtp, publisher: events"
      << (handlerExtra.empty() ? "" : ", " + handlerExtra) << " }\n";
    const auto config = dir_ / (name + ".yaml");
    writeFile(config, y.str());
    return config;
  }

  /// Applies the migrations with `commsvc migrate`, as ops would before a rollout.
  void migrate() {
    const auto [code, out] = runCommand({commsvcBinary(), "--plugin-dir", pluginPath(), "migrate",
                                         "-c", writeConfig("migrate", "").string()});
    if (code != 0) throw std::runtime_error("commsvc migrate failed: " + out);
  }

  /// Starts an engine process; `handlerExtra` adds YAML keys to the email handler.
  Process& startEngine(const std::string& name, const std::string& handlerExtra = "") {
    const auto config = writeConfig(name, handlerExtra);
    engines_.push_back(std::make_unique<Process>(
        std::vector<std::string>{commsvcBinary(), "--plugin-dir", pluginPath(), "run", "-c",
                                 config.string()},
        dir_ / (name + ".log")));
    Process& engine = *engines_.back();
    if (!waitFor([&] { return engine.log().find("pipeline ready") != std::string::npos; }, 30s)) {
      throw std::runtime_error("engine did not start: " + engine.log());
    }
    return engine;
  }

  /// Inserts an email and returns its id. Queued emails get in_warteschlange_am.
  /// The insert wakes the queue processor, which sends a queued email at once;
  /// `attempts` > 0 counts it as tried that often a moment ago, so the
  /// processor leaves it to its retry backoff (30 s) and a send_email event
  /// is what sends it.
  long insertEmail(const std::string& status, const std::string& subject = "Ihr Termin",
                   const std::string& to = "patient@example.org",
                   std::optional<long> therapistId = std::nullopt, long patientId = 7,
                   int attempts = 0) {
    pqxx::connection c(postgres_.url());
    pqxx::work tx(c);
    const auto row = tx.exec_params1(
        "INSERT INTO communication_service.emails (therapist_id, patient_id, betreff, "
        "inhalt_html, inhalt_text, empfaenger_email, empfaenger_name, absender_email, "
        "absender_name, status, in_warteschlange_am, wiederholungsanzahl) VALUES ($1, $2, $3, "
        "$4, $5, $6, $7, $8, $9, $10::public.emailstatus, CASE WHEN $10 = 'In_Warteschlange' "
        "THEN now() ELSE NULL END, $11) RETURNING id",
        therapistId, therapistId ? std::optional<long>() : std::optional<long>(patientId), subject,
        "<p>Guten Tag, <b>Frau Müller</b></p>", "Guten Tag, Frau Müller", to, "Frau Müller",
        "praxis@example.org", "Praxis Dr. Öz", status, attempts);
    tx.commit();
    return row[0].as<long>();
  }

  /// A column of one email, as text ("" for NULL).
  std::string column(long id, const std::string& name) {
    pqxx::connection c(postgres_.url());
    pqxx::work tx(c);
    const auto row = tx.exec_params1(
        "SELECT " + tx.quote_name(name) + "::text FROM communication_service.emails WHERE id = $1",
        id);
    return row[0].is_null() ? "" : row[0].as<std::string>();
  }

  /// Number of emails with `status`.
  long countStatus(const std::string& status) {
    pqxx::connection c(postgres_.url());
    pqxx::work tx(c);
    return tx
        .exec_params1("SELECT count(*) FROM communication_service.emails WHERE status::text = $1",
                      status)[0]
        .as<long>();
  }

  /// Puts send_email events for `ids` on the topic (kcat, another process).
  void sendEmailEvents(const std::vector<long>& ids) {
    std::vector<std::string> lines;
    for (long id : ids) {
      lines.push_back(
          std::to_string(id) + "|" +
          envelope("communication.send_email", "{\"email_id\":" + std::to_string(id) + "}"));
    }
    produceWithKcat(broker_.bootstrap(), "events", lines, dir_);
  }

  /// The payloads of `type` events on the topic, by key.
  std::map<std::string, std::vector<json>> eventsOfType(const std::string& type) {
    std::map<std::string, std::vector<json>> out;
    for (const auto& record : consumeWithKcat(broker_.bootstrap(), "events")) {
      const auto tab1 = record.find('\t');
      const auto tab2 = record.find('\t', tab1 + 1);
      const auto value = json::parse(record.substr(tab2 + 1), nullptr, false);
      if (value.is_discarded() || value.value("eventType", "") != type) continue;
      out[record.substr(0, tab1)].push_back(value);
    }
    return out;
  }

  ScratchDir dir_;
  testing::TemporaryPostgres postgres_;
  BrokerProcess broker_;
  SmtpSink sink_;
  std::vector<std::unique_ptr<Process>> engines_;
};

std::string header(const std::string& message, const std::string& name) {
  std::istringstream in(message);
  for (std::string line; std::getline(in, line);) {
    if (line == "\r" || line.empty()) break;
    if (line.rfind(name + ":", 0) == 0) {
      auto value = line.substr(name.size() + 1);
      while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
      while (!value.empty() && (value.back() == '\r')) value.pop_back();
      return value;
    }
  }
  return "";
}

TEST(Email, AnEventForAQueuedEmailDeliversOneMessageAndPublishesEmailSent) {
  EmailService svc("email-one");
  Process& engine = svc.startEngine("engine", "queue_check_interval_s: 3600");
  const long id = svc.insertEmail("In_Warteschlange", "Termin bestätigt", "patient@example.org",
                                  std::nullopt, 7, /*attempts=*/1);
  svc.sendEmailEvents({id});

  ASSERT_TRUE(waitFor([&] { return svc.sink_.count() == 1; }, 30s)) << engine.log();
  const std::string message = svc.sink_.messages().at(0);
  EXPECT_EQ(header(message, "From"), "=?UTF-8?B?UHJheGlzIERyLiDDlno=?= <praxis@example.org>")
      << message;
  EXPECT_NE(header(message, "To").find("<patient@example.org>"), std::string::npos) << message;
  EXPECT_EQ(header(message, "Subject").rfind("=?UTF-8?B?", 0), 0u) << "RFC 2047: " << message;
  EXPECT_FALSE(header(message, "Date").empty()) << message;
  EXPECT_FALSE(header(message, "Message-ID").empty()) << message;
  EXPECT_NE(header(message, "Content-Type").find("multipart/alternative"), std::string::npos);
  const auto plain = message.find("text/plain");
  const auto html = message.find("text/html");
  ASSERT_NE(plain, std::string::npos) << message;
  ASSERT_NE(html, std::string::npos) << message;
  EXPECT_LT(plain, html) << "the plain part comes first";

  ASSERT_TRUE(waitFor([&] { return svc.column(id, "status") == "Gesendet"; }, 10s));
  EXPECT_FALSE(svc.column(id, "gesendet_am").empty());

  std::map<std::string, std::vector<json>> sent;
  ASSERT_TRUE(waitFor(
      [&] {
        sent = svc.eventsOfType("email.sent");
        return sent.count(std::to_string(id)) == 1;
      },
      20s))
      << engine.log();
  const json expected = {{"email_id", id},
                         {"email_data",
                          {{"therapist_id", nullptr},
                           {"patient_id", 7},
                           {"betreff", "Termin bestätigt"},
                           {"recipient_type", "patient"},
                           {"status", "Gesendet"}}},
                         {"communication_type", "email"},
                         {"patient_id", 7},
                         {"therapist_id", nullptr}};
  ASSERT_EQ(sent[std::to_string(id)].size(), 1u);
  const json& event = sent[std::to_string(id)][0];
  EXPECT_EQ(event.at("payload"), expected) << event.dump();
  EXPECT_EQ(event.at("producer"), "communication-service");
  EXPECT_EQ(event.at("eventId").get<std::string>().size(), 36u);
  EXPECT_EQ(engine.log().find("email queue run"), std::string::npos)
      << "the event sent it, not the queue processor: " << engine.log();
  engine.signal(SIGTERM);
  EXPECT_EQ(engine.wait(15s), 0) << engine.log();
}

TEST(Email, ExactlyOnceWithDuplicateEventsTheQueueProcessorAndTwoInstances) {
  EmailService svc("email-exactly-once");
  svc.migrate();
  std::vector<long> ids;
  for (int i = 0; i < 200; ++i) ids.push_back(svc.insertEmail("In_Warteschlange"));
  Process& a = svc.startEngine("a", "queue_check_interval_s: 1, queue_batch_size: 10");
  Process& b = svc.startEngine("b", "queue_check_interval_s: 1, queue_batch_size: 10");
  std::vector<long> twice = ids;
  twice.insert(twice.end(), ids.begin(), ids.end());
  svc.sendEmailEvents(twice);
  ASSERT_TRUE(waitFor([&] { return svc.countStatus("Gesendet") == 200; }, 90s))
      << "sent " << svc.countStatus("Gesendet") << "\n"
      << a.log() << b.log();
  std::this_thread::sleep_for(3s);  // would reveal late duplicates
  EXPECT_EQ(svc.sink_.count(), 200u);
  a.signal(SIGTERM);
  b.signal(SIGTERM);
  EXPECT_EQ(a.wait(15s), 0) << a.log();
  EXPECT_EQ(b.wait(15s), 0) << b.log();
}

TEST(Email, DraftsAndSentEmailsAreNeverSentByAnEventAndUnknownIdsAreDeadLettered) {
  EmailService svc("email-never");
  Process& engine = svc.startEngine("engine", "queue_check_interval_s: 3600");
  const long draft = svc.insertEmail("Entwurf");
  const long sent = svc.insertEmail("Gesendet");
  const long failed = svc.insertEmail("Fehlgeschlagen");
  svc.sendEmailEvents({draft, sent, failed, 987654});
  std::vector<std::string> dead;
  ASSERT_TRUE(waitFor(
      [&] {
        dead = consumeWithKcat(svc.broker_.bootstrap(), "events.dlq");
        return !dead.empty();
      },
      30s))
      << engine.log();
  std::this_thread::sleep_for(1s);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].substr(0, dead[0].find('\t')), "987654");
  EXPECT_NE(dead[0].find("x-dlq-reason=rejected"), std::string::npos) << dead[0];
  EXPECT_NE(dead[0].find("987654"), std::string::npos);
  EXPECT_EQ(svc.sink_.count(), 0u);
  EXPECT_EQ(svc.column(draft, "status"), "Entwurf");
  EXPECT_EQ(svc.column(sent, "status"), "Gesendet");
  EXPECT_EQ(svc.column(failed, "status"), "Fehlgeschlagen");
  engine.signal(SIGTERM);
  EXPECT_EQ(engine.wait(15s), 0) << engine.log();
}

TEST(Email, SmtpPermanentFailureMarksTheEmailFailedWithTheServerText) {
  EmailService svc("email-5xx",
                   {"--always-fail-code", "550", "--fail-text", "5.1.1 mailbox unavailable"});
  Process& engine = svc.startEngine("engine", "queue_check_interval_s: 3600");
  const long id = svc.insertEmail("In_Warteschlange", "Ihr Termin", "patient@example.org",
                                  std::nullopt, 7, /*attempts=*/1);
  svc.sendEmailEvents({id});
  ASSERT_TRUE(waitFor([&] { return svc.column(id, "status") == "Fehlgeschlagen"; }, 30s))
      << engine.log();
  EXPECT_NE(svc.column(id, "fehlermeldung").find("mailbox unavailable"), std::string::npos)
      << svc.column(id, "fehlermeldung");
  EXPECT_EQ(svc.column(id, "wiederholungsanzahl"), "2") << "a permanent failure counts once";
  EXPECT_EQ(engine.log().find("email queue run"), std::string::npos) << engine.log();
  EXPECT_EQ(svc.sink_.count(), 0u);
}

TEST(Email, SmtpTransientFailuresAreRetriedAndCounted) {
  EmailService svc("email-4xx", {"--fail-first", "2", "--fail-code", "451"});
  Process& engine = svc.startEngine("engine", "queue_check_interval_s: 1, retry_backoff_s: 0");
  const long id = svc.insertEmail("In_Warteschlange");
  svc.sendEmailEvents({id});
  ASSERT_TRUE(waitFor([&] { return svc.column(id, "status") == "Gesendet"; }, 30s)) << engine.log();
  EXPECT_EQ(svc.column(id, "wiederholungsanzahl"), "2");
  EXPECT_EQ(svc.sink_.count(), 1u);
}

TEST(Email, CrLfInASubjectOrRecipientIsRefusedBeforeAnythingIsSent) {
  EmailService svc("email-crlf");
  Process& engine = svc.startEngine("engine", "queue_check_interval_s: 3600");
  const long subject = svc.insertEmail("In_Warteschlange", "Hallo\r\nBcc: victim@example.org",
                                       "patient@example.org", std::nullopt, 7, /*attempts=*/1);
  const long recipient =
      svc.insertEmail("In_Warteschlange", "Hallo", "a@example.org\r\nRCPT TO:<b@example.org>",
                      std::nullopt, 7, /*attempts=*/1);
  svc.sendEmailEvents({subject, recipient});
  ASSERT_TRUE(waitFor(
      [&] {
        return svc.column(subject, "status") == "Fehlgeschlagen" &&
               svc.column(recipient, "status") == "Fehlgeschlagen";
      },
      30s))
      << engine.log();
  EXPECT_EQ(svc.sink_.count(), 0u);
  EXPECT_FALSE(svc.column(subject, "fehlermeldung").empty());
  EXPECT_EQ(engine.log().find("email queue run"), std::string::npos) << engine.log();
}

// An unavailable channel (421) hands the email back to the queue without
// counting an attempt. That must not wake the queue processor again: it
// would claim and hand back the same email in a loop for the whole outage
// (migration 6). The email stays sendable: an event sends it once the
// mail server is back.
TEST(Email, AnUnavailableChannelHoldsTheEmailWithoutSpinningTheQueueProcessor) {
  EmailService svc("email-421");
  svc.sink_.setFaults(R"({"fail_code": 421})");
  Process& engine = svc.startEngine("engine", "queue_check_interval_s: 3600");
  const long id = svc.insertEmail("In_Warteschlange");  // wakes the processor
  ASSERT_TRUE(waitFor(
      [&] {
        return svc.column(id, "status") == "In_Warteschlange" &&
               !svc.column(id, "fehlermeldung").empty();
      },
      20s))
      << engine.log();
  std::this_thread::sleep_for(3s);
  EXPECT_LE(occurrences(engine.log(), "email queue run"), 2u)
      << "the processor kept claiming the held email: " << engine.log();
  EXPECT_EQ(svc.column(id, "status"), "In_Warteschlange");
  EXPECT_EQ(svc.column(id, "wiederholungsanzahl"), "0") << "an outage is not an attempt";

  svc.sink_.setFaults("{}");
  svc.sendEmailEvents({id});
  ASSERT_TRUE(waitFor([&] { return svc.column(id, "status") == "Gesendet"; }, 30s)) << engine.log();
  EXPECT_EQ(svc.sink_.count(), 1u);
}

TEST(Email, KillNineMidBatchThenRestartSendsEveryQueuedEmailOnceTheLeasePasses) {
  EmailService svc("email-kill9", {"--delay-ms", "100"});
  svc.smtpTimeoutMs_ = 1000;  // a 6 s lease then covers the worst case (3 x the timeout, x 2)
  svc.migrate();
  std::vector<long> ids;
  for (int i = 0; i < 30; ++i) ids.push_back(svc.insertEmail("In_Warteschlange"));
  Process& first =
      svc.startEngine("first", "queue_check_interval_s: 1, queue_batch_size: 30, claim_lease_s: 6");
  ASSERT_TRUE(waitFor([&] { return svc.sink_.count() >= 5; }, 30s)) << first.log();
  first.signal(SIGKILL);
  ASSERT_EQ(first.wait(5s), 128 + SIGKILL);
  ASSERT_GT(svc.countStatus("Wird_gesendet"), 0) << "killed in the middle of a batch";

  Process& second = svc.startEngine(
      "second", "queue_check_interval_s: 1, queue_batch_size: 30, claim_lease_s: 6");
  ASSERT_TRUE(waitFor([&] { return svc.countStatus("Gesendet") == 30; }, 60s)) << second.log();
  second.signal(SIGTERM);
  EXPECT_EQ(second.wait(15s), 0) << second.log();
}

TEST(Email, EmailSentEventsSurviveABrokerOutage) {
  EmailService svc("email-outage");
  Process& engine = svc.startEngine("engine", "queue_check_interval_s: 1");
  svc.broker_.freeze();  // the broker stops answering: an outage for every client
  std::vector<long> ids;
  for (int i = 0; i < 20; ++i) ids.push_back(svc.insertEmail("In_Warteschlange"));
  ASSERT_TRUE(waitFor([&] { return svc.countStatus("Gesendet") == 20; }, 60s)) << engine.log();
  std::this_thread::sleep_for(5s);  // publishing fails and backs off meanwhile
  svc.broker_.thaw();
  std::map<std::string, std::vector<json>> sent;
  ASSERT_TRUE(waitFor(
      [&] {
        sent = svc.eventsOfType("email.sent");
        return sent.size() == 20;
      },
      60s))
      << "got " << sent.size() << "\n"
      << engine.log();
  for (long id : ids) {
    // At least once: a retried publish may arrive twice, always as the same event.
    std::set<std::string> eventIds;
    for (const auto& e : sent[std::to_string(id)]) eventIds.insert(e.at("eventId"));
    EXPECT_EQ(eventIds.size(), 1u) << id;
  }
  engine.signal(SIGTERM);
  EXPECT_EQ(engine.wait(20s), 0) << engine.log();
}

}  // namespace
}  // namespace commsvc::integration
