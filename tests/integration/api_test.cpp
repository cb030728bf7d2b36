// The HTTP API over real HTTP (curl) against the commsvc binary with the
// email and phonecall plugins, a real PostgreSQL and a broker process: every
// action's response and the events it publishes on the broker.
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "../support/postgres.hpp"
#include "harness.hpp"

namespace commsvc::integration {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

/// The service with its HTTP API on a free port.
class ApiService {
 public:
  /// `sinkArgs` go to the SMTP sink (e.g. {"--delay-ms", "3000"});
  /// `httpExtra` are more keys of the http: block (e.g. "handler_threads: 1").
  explicit ApiService(const std::vector<std::string>& sinkArgs = {},
                      const std::string& httpExtra = "")
      : dir_("api"), broker_(dir_, {"events", "events.dlq"}, 3), sink_(dir_, "smtp", sinkArgs) {
    std::ostringstream y;
    y << "plugins: [email, phonecall, transport-smtp, publisher-kafka]\n"
      << "kafka:\n"
      << "  brokers: \"" << broker_.bootstrap() << "\"\n"
      << "  topic: events\n  dead_letter_topic: events.dlq\n"
      << "  consumer_properties: { session.timeout.ms: \"6000\", heartbeat.interval.ms: \"500\" }\n"
      << "database: { url: \"" << postgres_.url() << "\" }\n"
      << "http: { port: 0, address: 127.0.0.1, body_limit_bytes: 65536"
      << (httpExtra.empty() ? "" : ", " + httpExtra) << " }\n"
      << "channels:\n"
      << "  smtp: { type: smtp, host: 127.0.0.1, port: " << sink_.port() << ", tls: none }\n"
      << "publishers:\n  events: { type: kafka }\n"
      << "handlers:\n"
      << "  - { event: communication.send_email, type: email, channel: smtp, publisher: events,"
      << " queue_check_interval_s: 3600, system_notification_email: admin@example.org }\n"
      << "  - { event: communication.schedule_call, type: phonecall, publisher: events }\n";
    writeFile(dir_ / "api.yaml", y.str());
    engine_ = std::make_unique<Process>(
        std::vector<std::string>{commsvcBinary(), "--plugin-dir", pluginPath(), "run", "-c",
                                 (dir_ / "api.yaml").string()},
        dir_ / "engine.log");
    const std::regex listening("http server listening.*port=([0-9]+)");
    std::smatch m;
    if (!waitFor(
            [&] {
              const auto log = engine_->log();
              if (!std::regex_search(log, m, listening)) return false;
              port_ = std::stoi(m[1]);
              return true;
            },
            30s)) {
      throw std::runtime_error("no HTTP port in the log: " + engine_->log());
    }
  }

  ~ApiService() { stop(); }

  /// Sends SIGTERM (once) and returns the exit code, nullopt when the
  /// process did not exit within 15 s.
  std::optional<int> stop() {
    if (!stopped_) {
      stopped_ = true;
      engine_->signal(SIGTERM);
      exitCode_ = engine_->wait(15s);
    }
    return exitCode_;
  }

  /// Status code and parsed body of one request.
  std::pair<int, json> call(const std::string& method, const std::string& path,
                            const std::string& body = "") {
    std::vector<std::string> argv{"curl",
                                  "-s",
                                  "-m",
                                  "10",
                                  "-X",
                                  method,
                                  "-w",
                                  "\n%{http_code}",
                                  "http://127.0.0.1:" + std::to_string(port_) + path};
    if (!body.empty()) {
      argv.insert(argv.end(), {"-H", "Content-Type: application/json", "--data-binary", body});
    }
    const auto [code, out] = runCommand(argv);
    if (code != 0) throw std::runtime_error("curl failed: " + out);
    const auto newline = out.rfind('\n');
    const int status = std::stoi(out.substr(newline + 1));
    const auto parsed = json::parse(out.substr(0, newline), nullptr, false);
    return {status, parsed.is_discarded() ? json(out.substr(0, newline)) : parsed};
  }

  /// The events of `type` on the topic with key `key`, waiting for `count`.
  std::vector<json> events(const std::string& type, const std::string& key, std::size_t count) {
    std::vector<json> out;
    waitFor(
        [&] {
          out.clear();
          for (const auto& record : consumeWithKcat(broker_.bootstrap(), "events")) {
            const auto tab1 = record.find('\t');
            const auto tab2 = record.find('\t', tab1 + 1);
            const auto value = json::parse(record.substr(tab2 + 1), nullptr, false);
            if (record.substr(0, tab1) == key && !value.is_discarded() &&
                value.value("eventType", "") == type) {
              out.push_back(value.at("payload"));
            }
          }
          return out.size() >= count;
        },
        20s);
    return out;
  }

  ScratchDir dir_;
  testing::TemporaryPostgres postgres_;
  BrokerProcess broker_;
  SmtpSink sink_;
  std::unique_ptr<Process> engine_;
  int port_ = 0;
  bool stopped_ = false;
  std::optional<int> exitCode_;
};

TEST(Api, EmailLifecycleOverHttpPublishesItsEvents) {
  ApiService api;
  auto [created, email] = api.call("POST", "/api/emails", R"({
      "betreff": "Ihr Therapieplatz", "empfaenger_email": "t@example.org",
      "empfaenger_name": "Dr. T", "therapist_id": 11,
      "inhalt_markdown": "# Hallo\n\nSiehe https://example.org und **bitte** antworten.",
      "status": "In_Warteschlange"})");
  ASSERT_EQ(created, 201) << email.dump();
  const long id = email.at("id").get<long>();
  const std::string key = std::to_string(id);
  EXPECT_NE(email.at("inhalt_html").get<std::string>().find("<h1>Hallo</h1>"), std::string::npos);
  EXPECT_NE(email.at("inhalt_html").get<std::string>().find("href=\"https://example.org\""),
            std::string::npos);
  EXPECT_FALSE(email.at("in_warteschlange_am").is_null());

  const auto createdEvents = api.events("communication.email_created", key, 1);
  ASSERT_EQ(createdEvents.size(), 1u);
  EXPECT_EQ(createdEvents[0].at("email_id"), id);
  EXPECT_EQ(createdEvents[0].at("email_data").at("recipient_type"), "therapist");

  auto [listed, page] = api.call("GET", "/api/emails?therapist_id=11&limit=2000&page=-1");
  EXPECT_EQ(listed, 200);
  EXPECT_EQ(page.at("limit"), 1000);
  EXPECT_EQ(page.at("page"), 1);
  EXPECT_EQ(page.at("total"), 1);

  auto [sentStatus, sentBody] = api.call("PUT", "/api/emails/" + key, R"({"status":"Gesendet"})");
  EXPECT_EQ(sentStatus, 200) << sentBody.dump();
  EXPECT_EQ(api.events("email.sent", key, 1).size(), 1u);

  auto [answered, answeredBody] = api.call(
      "PUT", "/api/emails/" + key,
      R"({"antwort_erhalten": true, "antwortdatum": "2026-11-26T10:00:00", "antwortinhalt": "Ja"})");
  EXPECT_EQ(answered, 200) << answeredBody.dump();
  const auto responses = api.events("email.response_received", key, 1);
  ASSERT_EQ(responses.size(), 1u);
  EXPECT_EQ(responses[0].at("therapist_id"), 11);

  auto [bad, badBody] = api.call("POST", "/api/emails", R"({"betreff": 5})");
  EXPECT_EQ(bad, 400);
  EXPECT_NE(badBody.at("message").get<std::string>().find("betreff"), std::string::npos);
  EXPECT_EQ(api.call("POST", "/api/emails", "{not json").first, 400);
  auto [tooLarge, tooLargeBody] =
      api.call("POST", "/api/emails", "{\"betreff\": \"" + std::string(100000, 'x') + "\"}");
  EXPECT_EQ(tooLarge, 413) << "http.body_limit_bytes from pipelines.yaml applies";

  EXPECT_EQ(api.call("DELETE", "/api/emails/" + key).first, 200);
  auto [gone, goneBody] = api.call("GET", "/api/emails/" + key);
  EXPECT_EQ(gone, 404);
  EXPECT_EQ(goneBody.at("message"), "Email not found");
}

TEST(Api, PhoneCallsOverHttpPublishTheirEvents) {
  ApiService api;
  auto [created, call] = api.call("POST", "/api/phone-calls",
                                  R"({"therapist_id": 5, "geplantes_datum": "2030-01-07"})");
  ASSERT_EQ(created, 201) << call.dump();
  EXPECT_EQ(call.at("geplante_zeit"), "10:00");
  EXPECT_EQ(call.at("dauer_minuten"), 5);
  const std::string key = std::to_string(call.at("id").get<long>());
  const auto scheduled = api.events("communication.call_scheduled", key, 1);
  ASSERT_EQ(scheduled.size(), 1u);
  EXPECT_EQ(scheduled[0].at("call_data").at("scheduled_time"), "10:00:00");

  auto [done, doneBody] = api.call("PUT", "/api/phone-calls/" + key,
                                   R"({"status": "abgeschlossen", "ergebnis": "Platz frei"})");
  EXPECT_EQ(done, 200) << doneBody.dump();
  const auto completed = api.events("phone_call.completed", key, 1);
  ASSERT_EQ(completed.size(), 1u);
  EXPECT_EQ(completed[0].at("outcome"), "Platz frei");

  auto [bad, badBody] = api.call("PUT", "/api/phone-calls/" + key, R"({"status": "vielleicht"})");
  EXPECT_EQ(bad, 400);
  EXPECT_NE(badBody.at("message").get<std::string>().find("status"), std::string::npos);
  EXPECT_EQ(api.call("GET", "/api/phone-calls/999999").first, 404);
}

TEST(Api, HealthMetricsAndSystemMessages) {
  ApiService api;
  auto [healthy, health] = api.call("GET", "/health");
  EXPECT_EQ(healthy, 200) << health.dump();
  EXPECT_EQ(health.at("status"), "healthy");
  EXPECT_EQ(health.at("service"), "communication-service");

  auto [sent, sentBody] = api.call("POST", "/api/system-messages",
                                   R"({"subject": "Backup", "message": "Nightly backup done"})");
  EXPECT_EQ(sent, 200) << sentBody.dump();
  EXPECT_EQ(sentBody.at("recipient"), "admin@example.org");
  EXPECT_TRUE(waitFor([&] { return api.sink_.count() == 1; }, 10s));

  // An event handled by the engine moves the consumption counters.
  produceWithKcat(api.broker_.bootstrap(), "events",
                  {"1|" + envelope("communication.schedule_call", "{\"therapist_id\": 1}")},
                  api.dir_);
  ASSERT_TRUE(waitFor(
      [&] {
        const auto text = api.call("GET", "/metrics").second.get<std::string>();
        return text.find("events_consumed_total{type=\"communication.schedule_call\"} 1") !=
               std::string::npos;
      },
      20s))
      << api.call("GET", "/metrics").second.get<std::string>();
  const auto metrics = api.call("GET", "/metrics").second.get<std::string>();
  EXPECT_NE(metrics.find("http_requests_total"), std::string::npos);
  EXPECT_NE(metrics.find("outbox_backlog{publisher=\"events\"}"), std::string::npos);
  EXPECT_NE(metrics.find("handler_duration_seconds_bucket"), std::string::npos);

  // Health: /livez checks nothing; /readyz follows the dependencies;
  // /health stays 200 through a database outage (the container check).
  EXPECT_EQ(api.call("GET", "/livez").first, 200);
  ASSERT_TRUE(waitFor([&] { return api.call("GET", "/readyz").first == 200; }, 10s))
      << api.call("GET", "/readyz").second.dump();
  const auto ready = api.call("GET", "/readyz").second;
  EXPECT_EQ(ready.at("status"), "ready") << ready.dump();
  EXPECT_EQ(ready.at("database"), "ok");
  EXPECT_EQ(ready.at("kafka"), "ok");
  EXPECT_EQ(ready.at("channels").at("smtp"), "ok") << "each channel in use, by its name";
  EXPECT_EQ(api.call("GET", "/health").second.at("database"), "ok");

  api.postgres_.stop();
  ASSERT_TRUE(waitFor([&] { return api.call("GET", "/readyz").first == 503; }, 5s))
      << api.call("GET", "/readyz").second.dump();
  const auto notReady = api.call("GET", "/readyz").second;
  EXPECT_EQ(notReady.at("status"), "not ready");
  EXPECT_EQ(notReady.at("database").get<std::string>().rfind("down", 0), 0u) << notReady.dump();
  EXPECT_EQ(notReady.at("kafka"), "ok");
  auto [healthStatus, healthBody] = api.call("GET", "/health");
  EXPECT_EQ(healthStatus, 200) << "a database outage must not restart the service: "
                               << healthBody.dump();
  EXPECT_EQ(healthBody.at("status"), "healthy");
  EXPECT_EQ(healthBody.at("service"), "communication-service");
  EXPECT_NE(healthBody.at("database"), "ok");
  EXPECT_EQ(api.call("GET", "/livez").first, 200);
  const auto down = api.call("GET", "/metrics").second.get<std::string>();
  EXPECT_NE(down.find("dependency_up{dependency=\"database\"} 0"), std::string::npos);

  api.postgres_.start();
  EXPECT_TRUE(waitFor([&] { return api.call("GET", "/readyz").first == 200; }, 10s))
      << api.call("GET", "/readyz").second.dump();
}

TEST(Api, SlowHandlersDoNotBlockOtherRoutes) {
  ApiService api({"--delay-ms", "4000"});
  // Two system messages wait on a slow SMTP server (as many as the old
  // server had I/O threads)...
  std::vector<std::thread> slow;
  std::vector<int> slowStatus(2, 0);
  for (int i = 0; i < 2; ++i) {
    slow.emplace_back([&, i] {
      slowStatus[i] = api.call("POST", "/api/system-messages",
                               R"({"subject": "Slow", "message": "waits on SMTP"})")
                          .first;
    });
  }
  std::this_thread::sleep_for(800ms);  // both requests reached their handlers
  // ...while other routes answer at once.
  EXPECT_EQ(api.call("GET", "/livez").first, 200);
  EXPECT_EQ(api.call("GET", "/api/emails").first, 200);
  EXPECT_EQ(api.call("GET", "/api/phone-calls").first, 200);
  EXPECT_EQ(api.sink_.count(), 0u) << "answered while both sends still waited on SMTP";
  for (auto& t : slow) t.join();
  EXPECT_EQ(slowStatus[0], 200);
  EXPECT_EQ(slowStatus[1], 200);
  EXPECT_TRUE(waitFor([&] { return api.sink_.count() == 2; }, 10s));
}

TEST(Api, SigtermFinishesRunningAndQueuedRequestsThenExits) {
  // One handler thread: the second system message waits in the queue.
  ApiService api({"--delay-ms", "1500"}, "handler_threads: 1, handler_queue: 4");
  std::vector<std::thread> requests;
  std::vector<int> statuses(2, 0);
  for (int i = 0; i < 2; ++i) {
    requests.emplace_back([&, i] {
      statuses[i] = api.call("POST", "/api/system-messages",
                             R"({"subject": "Before stop", "message": "in flight"})")
                        .first;
    });
    std::this_thread::sleep_for(300ms);
  }
  const auto stopped = api.stop();  // SIGTERM, then waits for the exit
  for (auto& t : requests) t.join();
  EXPECT_EQ(statuses[0], 200) << "the running request finished";
  EXPECT_EQ(statuses[1], 200) << "the queued request finished";
  EXPECT_EQ(stopped, std::optional<int>(0)) << api.engine_->log();
  EXPECT_EQ(api.sink_.count(), 2u);
}

}  // namespace
}  // namespace commsvc::integration
