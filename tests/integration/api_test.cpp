// The HTTP API over real HTTP (curl) against the commsvc binary with the
// email and phonecall plugins, a real PostgreSQL and a broker process: every
// action's response and the events it publishes on the broker.
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "../support/postgres.hpp"
#include "api_service.hpp"
#include "harness.hpp"

namespace commsvc::integration {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// A draft (a queued email would be sent by the queue processor meanwhile,
// and the PUT to Gesendet below would race it).
TEST(Api, EmailLifecycleOverHttpPublishesItsEvents) {
  ApiService api;
  auto [created, email] = api.call("POST", "/api/emails", R"({
      "betreff": "Ihr Therapieplatz", "empfaenger_email": "t@example.org",
      "empfaenger_name": "Dr. T", "therapist_id": 11,
      "inhalt_markdown": "# Hallo\n\nSiehe https://example.org und **bitte** antworten."})");
  ASSERT_EQ(created, 201) << email.dump();
  const long id = email.at("id").get<long>();
  const std::string key = std::to_string(id);
  EXPECT_NE(email.at("inhalt_html").get<std::string>().find("<h1>Hallo</h1>"), std::string::npos);
  EXPECT_NE(email.at("inhalt_html").get<std::string>().find("href=\"https://example.org\""),
            std::string::npos);
  EXPECT_TRUE(email.at("in_warteschlange_am").is_null());
  EXPECT_EQ(email.at("status"), "Entwurf");

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

  // Created queued: stamped and sent at once, without an event.
  auto [queuedStatus, queued] = api.call("POST", "/api/emails", R"({
      "betreff": "Erinnerung", "empfaenger_email": "t@example.org",
      "empfaenger_name": "Dr. T", "therapist_id": 11, "inhalt_markdown": "Hallo",
      "status": "In_Warteschlange"})");
  ASSERT_EQ(queuedStatus, 201) << queued.dump();
  EXPECT_FALSE(queued.at("in_warteschlange_am").is_null());
  const std::string queuedKey = std::to_string(queued.at("id").get<long>());
  EXPECT_TRUE(waitFor(
      [&] { return api.call("GET", "/api/emails/" + queuedKey).second.at("status") == "Gesendet"; },
      20s))
      << api.log();
  EXPECT_EQ(api.sink_->count(), 1u);
}

// The platform's callers queue emails over HTTP and send no event: the
// queue processor (interval 3600 s here) is woken by the emails table's
// notification and keeps draining while full batches (10) come back.
TEST(Api, EmailsQueuedOverHttpGoOutWithoutWaitingForTheQueueInterval) {
  ApiService api;
  const std::string draft = R"({"betreff": "Anfrage", "empfaenger_email": "t@example.org",
      "empfaenger_name": "Dr. T", "therapist_id": 11, "inhalt_markdown": "Hallo"})";
  std::vector<std::string> ids;
  for (int i = 0; i < 35; ++i) {
    auto [status, email] = api.call("POST", "/api/emails", draft);
    ASSERT_EQ(status, 201) << email.dump();
    ids.push_back(std::to_string(email.at("id").get<long>()));
  }
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(api.sink_->count(), 0u) << "drafts are not sent";
  for (const auto& id : ids) {
    EXPECT_EQ(api.call("PUT", "/api/emails/" + id, R"({"status":"In_Warteschlange"})").first, 200);
  }
  EXPECT_TRUE(waitFor([&] { return api.sink_->count() >= ids.size(); }, 20s))
      << api.sink_->count() << " of " << ids.size() << " sent\n"
      << api.log();
  for (const auto& id : ids) {
    EXPECT_EQ(api.call("GET", "/api/emails/" + id).second.at("status"), "Gesendet") << id;
  }
  EXPECT_EQ(api.sink_->count(), ids.size()) << "each once";
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
  EXPECT_TRUE(waitFor([&] { return api.sink_->count() == 1; }, 10s));

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
  ApiService api({.sinkArgs = {"--delay-ms", "4000"}});
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
  EXPECT_EQ(api.sink_->count(), 0u) << "answered while both sends still waited on SMTP";
  for (auto& t : slow) t.join();
  EXPECT_EQ(slowStatus[0], 200);
  EXPECT_EQ(slowStatus[1], 200);
  EXPECT_TRUE(waitFor([&] { return api.sink_->count() == 2; }, 10s));
}

TEST(Api, SigtermFinishesRunningAndQueuedRequestsThenExits) {
  // One handler thread: the second system message waits in the queue.
  ApiService api(
      {.sinkArgs = {"--delay-ms", "1500"}, .httpExtra = "handler_threads: 1, handler_queue: 4"});
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
  EXPECT_EQ(api.sink_->count(), 2u);
}

}  // namespace
}  // namespace commsvc::integration
