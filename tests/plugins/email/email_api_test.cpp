// Tests of the email plugin's HTTP API against a real PostgreSQL: every
// route of /api/emails and /api/system-messages called through the handlers
// the factory registers, validation messages, pagination, Markdown
// rendering and the events each change adds to the outbox.

#include "email_api.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "commsvc/testing/fake_context.hpp"
#include "email_handler.hpp"
#include "markdown.hpp"
#include "plugin_database.hpp"
#include "schema.hpp"

namespace commsvc::plugins::email {
namespace {

using nlohmann::json;

constexpr const char* kAdmin = "admin@example.org";
constexpr const char* kFooterHtml = "<p>Footer GmbH</p>";
constexpr const char* kFooterText = "-- Footer GmbH";

EmailSettings apiSettings(const std::string& adminAddress,
                          const std::string& contactPublisher = "") {
  return {.sender = {.queueCheckInterval = std::chrono::seconds(3600),
                     .queueBatchSize = 10,
                     .claimLease = std::chrono::seconds(300),
                     .maxAttempts = 5,
                     .retryBackoff = std::chrono::seconds(30)},
          .api = {.defaultSenderEmail = "info@example.org",
                  .defaultSenderName = "Praxisvermittlung",
                  .legalFooterHtml = kFooterHtml,
                  .legalFooterText = kFooterText,
                  .systemNotificationEmail = adminAddress},
          .contact = {.publisher = contactPublisher,
                      .timeZone = "Europe/Berlin",
                      .wait = std::chrono::milliseconds(2000)}};
}

class EmailApiTest : public testing::PluginDatabaseTest {
 protected:
  void SetUp() override {
    PluginDatabaseTest::SetUp();
    migrate("email", kMigrations);
    exec("TRUNCATE communication_service.emails RESTART IDENTITY");
    makeHandler(kAdmin);
  }

  void makeHandler(const std::string& adminAddress) {
    context_ = std::make_unique<testing::FakeContext>();
    context_->setChannel(&channel_);
    context_->setDatabase(pool_.get());
    context_->setOutbox(&outbox_);
    handler_ = createEmailHandler(apiSettings(adminAddress), *context_);
  }

  /// Calls the route registered for `method` and `pattern`.
  HttpResponse call(const std::string& method, const std::string& pattern,
                    const std::string& body = "", std::map<std::string, std::string> query = {},
                    std::map<std::string, std::string> params = {}) {
    for (const auto& route : context_->routes()) {
      if (route.method == method && route.pattern == pattern) {
        HttpRequest request;
        request.method = method;
        request.path = pattern;
        request.query = std::move(query);
        request.params = std::move(params);
        request.body = body;
        return route.handler(request);
      }
    }
    ADD_FAILURE() << "no route " << method << " " << pattern;
    return {};
  }

  HttpResponse post(const json& body) { return call("POST", "/api/emails", body.dump()); }
  HttpResponse list(std::map<std::string, std::string> query = {}) {
    return call("GET", "/api/emails", "", std::move(query));
  }
  HttpResponse byId(const std::string& method, const std::string& id,
                    const std::string& body = "") {
    return call(method, "/api/emails/{id}", body, {}, {{"id", id}});
  }
  HttpResponse byId(const std::string& method, std::int64_t id, const json& body = nullptr) {
    return byId(method, std::to_string(id), body.is_null() ? std::string() : body.dump());
  }

  /// A valid POST body for a therapist, merged with `extra`.
  static json emailBody(const json& extra = json::object()) {
    json body = {{"betreff", "Anfrage Therapieplatz"},
                 {"empfaenger_email", "dr.mueller@example.org"},
                 {"empfaenger_name", "Dr. Müller"},
                 {"therapist_id", 7},
                 {"inhalt_text", "Hallo"}};
    body.update(extra);
    for (auto it = body.begin(); it != body.end();) {
      it = it->is_null() ? body.erase(it) : std::next(it);  // null = leave out
    }
    return body;
  }

  /// Creates an email and returns its id.
  std::int64_t create(const json& extra = json::object()) {
    const HttpResponse r = post(emailBody(extra));
    EXPECT_EQ(r.status, 201) << r.body;
    return json::parse(r.body)["id"].get<std::int64_t>();
  }

  /// The rows of public.test_outbox in insertion order.
  std::vector<testing::OutboxRow> outbox() { return outboxRows(); }

  static json parse(const HttpResponse& r) { return json::parse(r.body); }

  /// Expects a 400 whose message names `field`.
  static void expectBadRequest(const HttpResponse& r, const std::string& field,
                               const std::string& what) {
    EXPECT_EQ(r.status, 400) << what << ": " << r.body;
    const json body = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(body.is_object() && body.contains("message")) << what << ": " << r.body;
    EXPECT_NE(body["message"].get<std::string>().find(field), std::string::npos)
        << what << ": " << r.body;
  }

  /// Expects `status` and a message starting with `text` (the original
  /// service's text: clients match on the start).
  static void expectMessage(const HttpResponse& r, int status, const std::string& text,
                            const std::string& what) {
    EXPECT_EQ(r.status, status) << what << ": " << r.body;
    const json body = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(body.is_object() && body.contains("message")) << what << ": " << r.body;
    EXPECT_EQ(body["message"].get<std::string>().rfind(text, 0), 0u) << what << ": " << r.body;
  }

  testing::RecordingChannel channel_;
  std::unique_ptr<testing::FakeContext> context_;
  std::unique_ptr<Handler> handler_;
};

// ---- routes and creation ----------------------------------------------------

TEST_F(EmailApiTest, FactoryRegistersTheRoutes) {
  std::vector<std::string> routes;
  for (const auto& r : context_->routes()) routes.push_back(r.method + " " + r.pattern);
  EXPECT_EQ(routes,
            (std::vector<std::string>{"GET /api/emails", "POST /api/emails", "GET /api/emails/{id}",
                                      "PUT /api/emails/{id}", "DELETE /api/emails/{id}",
                                      "POST /api/system-messages"}));
}

TEST_F(EmailApiTest, CreateAppliesDefaultsFooterAndAddsEmailCreated) {
  const HttpResponse r = post(emailBody());
  ASSERT_EQ(r.status, 201) << r.body;
  const json email = parse(r);
  EXPECT_EQ(email["id"], 1);
  EXPECT_EQ(email["therapist_id"], 7);
  EXPECT_TRUE(email["patient_id"].is_null());
  EXPECT_EQ(email["betreff"], "Anfrage Therapieplatz");
  EXPECT_EQ(email["empfaenger_email"], "dr.mueller@example.org");
  EXPECT_EQ(email["empfaenger_name"], "Dr. Müller");
  EXPECT_EQ(email["absender_email"], "info@example.org");
  EXPECT_EQ(email["absender_name"], "Praxisvermittlung");
  EXPECT_EQ(email["status"], "Entwurf");
  EXPECT_EQ(email["antwort_erhalten"], false);
  EXPECT_TRUE(email["in_warteschlange_am"].is_null());
  EXPECT_TRUE(email["gesendet_am"].is_null());
  EXPECT_TRUE(email["antwortdatum"].is_null());
  EXPECT_EQ(email["wiederholungsanzahl"], 0);
  EXPECT_EQ(email["inhalt_text"], std::string("Hallo\n\n") + kFooterText);
  EXPECT_EQ(email["inhalt_html"], std::string("<p>Hallo</p>\n\n") + kFooterHtml);
  // ISO 8601 timestamps.
  EXPECT_TRUE(std::regex_match(email["created_at"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6})")))
      << email["created_at"];

  const auto events = outbox();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "communication.email_created");
  EXPECT_EQ(events[0].key, "1");
  EXPECT_EQ(events[0].payload,
            json::parse(R"({"email_id": 1, "email_data": {"therapist_id": 7, "patient_id": null,
              "betreff": "Anfrage Therapieplatz", "recipient_type": "therapist",
              "status": "Entwurf"}})"));
}

TEST_F(EmailApiTest, CreateQueuedForPatientWithOwnSenderAndNoFooter) {
  const HttpResponse r =
      post(emailBody({{"therapist_id", nullptr},
                      {"patient_id", 12},
                      {"status", "In_Warteschlange"},
                      {"absender_email", "team@example.org"},
                      {"absender_name", "Team"},
                      {"add_legal_footer", false},
                      {"inhalt_text", nullptr},
                      {"inhalt_html", "<p>Guten Tag &amp; <b>willkommen</b></p>"}}));
  ASSERT_EQ(r.status, 201) << r.body;
  const json email = parse(r);
  EXPECT_EQ(email["patient_id"], 12);
  EXPECT_TRUE(email["therapist_id"].is_null());
  EXPECT_EQ(email["status"], "In_Warteschlange");
  EXPECT_TRUE(email["in_warteschlange_am"].is_string());
  EXPECT_EQ(email["absender_email"], "team@example.org");
  EXPECT_EQ(email["absender_name"], "Team");
  EXPECT_EQ(email["inhalt_html"], "<p>Guten Tag &amp; <b>willkommen</b></p>");
  EXPECT_EQ(email["inhalt_text"], "Guten Tag & willkommen");
  const auto events = outbox();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].payload["email_data"]["recipient_type"], "patient");
  EXPECT_EQ(events[0].payload["email_data"]["status"], "In_Warteschlange");
  EXPECT_EQ(events[0].payload["email_data"]["patient_id"], 12);
}

TEST_F(EmailApiTest, CreateRendersMarkdown) {
  const std::string markdown =
      "# Termin\n\nSie haben *einen* **Platz**. Mehr unter [unserer Seite](https://example.org/a) "
      "oder https://example.org/b\n\n~~alt~~ neu\n\n| Tag | Zeit |\n| --- | --- |\n| Mo | 10:00 "
      "|\n";
  const HttpResponse r = post(emailBody(
      {{"inhalt_text", nullptr}, {"inhalt_markdown", markdown}, {"add_legal_footer", false}}));
  ASSERT_EQ(r.status, 201) << r.body;
  const json email = parse(r);
  const std::string html = email["inhalt_html"];
  for (const char* expected : {"<h1>Termin</h1>", "<em>einen</em>", "<strong>Platz</strong>",
                               "<a href=\"https://example.org/a\">unserer Seite</a>",
                               "<a href=\"https://example.org/b\">https://example.org/b</a>",
                               "<del>alt</del>", "<table>", "<th>Tag</th>", "<td>10:00</td>"}) {
    EXPECT_NE(html.find(expected), std::string::npos) << expected << " in " << html;
  }
  const std::string text = email["inhalt_text"];
  for (const char* expected :
       {"Termin", "Sie haben einen Platz.", "unserer Seite (https://example.org/a)",
        "https://example.org/b", "~alt~ neu", "| Mo | 10:00 |"}) {
    EXPECT_NE(text.find(expected), std::string::npos) << expected << " in " << text;
  }
  EXPECT_EQ(text.find("<"), std::string::npos) << text;
  EXPECT_EQ(text.find("(https://example.org/b)"), std::string::npos) << text;
}

TEST_F(EmailApiTest, MarkdownRendererDirectly) {
  const RenderedMarkdown r = renderMarkdown("## Hallo\n\nsiehe www.example.org und _dies_");
  EXPECT_NE(r.html.find("<h2>Hallo</h2>"), std::string::npos) << r.html;
  EXPECT_NE(r.html.find("<a href=\"http://www.example.org\">www.example.org</a>"),
            std::string::npos)
      << r.html;
  EXPECT_NE(r.html.find("<em>dies</em>"), std::string::npos) << r.html;
  EXPECT_EQ(r.text, "Hallo\n\nsiehe www.example.org und dies\n");
  // Raw HTML is not passed through.
  EXPECT_EQ(renderMarkdown("<script>x()</script>").html.find("<script>"), std::string::npos);
}

TEST_F(EmailApiTest, MarkdownBoundsKeepRenderingLinear) {
  const auto table = [](int columns, int rows) {
    std::string out;
    for (int c = 0; c < columns; ++c) out += "| h ";
    out += "|\n";
    for (int c = 0; c < columns; ++c) out += "|---";
    out += "|\n";
    for (int r = 0; r < rows; ++r) out += "| x |\n";
    return out;
  };
  EXPECT_NO_THROW(checkMarkdownBounds(table(10, 200) + "\n" + table(100, 10)));
  EXPECT_NE(renderMarkdown(table(3, 2)).html.find("<table>"), std::string::npos);
  EXPECT_NO_THROW(checkMarkdownBounds(table(100, 1)));
  EXPECT_THROW(checkMarkdownBounds(table(101, 1)), MarkdownTooComplex);
  EXPECT_THROW(checkMarkdownBounds(table(90, 600)), MarkdownTooComplex);  // 54,180 cells
  EXPECT_NO_THROW(checkMarkdownBounds(std::string(32, '>') + " tief"));
  EXPECT_THROW(checkMarkdownBounds(std::string(33, '>') + " tief"), MarkdownTooComplex);
  EXPECT_NO_THROW(checkMarkdownBounds(std::string(32, '[') + std::string(40, ']') + "[a]"));
  EXPECT_THROW(checkMarkdownBounds(std::string(33, '[')), MarkdownTooComplex);
  EXPECT_THROW(checkMarkdownBounds(std::string(128 * 1024 + 1, 'x')), MarkdownTooComplex);
}

TEST_F(EmailApiTest, CreateRejectsInvalidInputNamingTheField) {
  struct Case {
    std::string body;
    std::string field;
  };
  const auto with = [](const json& extra) { return emailBody(extra).dump(); };
  std::string tableBomb;
  for (int i = 0; i < 1000; ++i) tableBomb += "|a";
  tableBomb += "|\n";
  for (int i = 0; i < 1000; ++i) tableBomb += "|-";
  tableBomb += "|\n";
  for (int i = 0; i < 1000; ++i) tableBomb += "x\n";
  const std::vector<Case> cases = {
      {"{not json", "JSON"},
      {"[1, 2]", "object"},
      {with({{"betreff", nullptr}}), "betreff"},
      {with({{"betreff", 5}}), "betreff"},
      {with({{"betreff", ""}}), "betreff"},
      {with({{"betreff", "a\r\nBcc: x@example.org"}}), "betreff"},
      {with({{"betreff", std::string(256, 'x')}}), "betreff"},
      {with({{"empfaenger_email", nullptr}}), "empfaenger_email"},
      {with({{"empfaenger_email", "kein-at"}}), "empfaenger_email"},
      {with({{"empfaenger_email", true}}), "empfaenger_email"},
      {with({{"empfaenger_name", nullptr}}), "empfaenger_name"},
      {with({{"empfaenger_name", 3.5}}), "empfaenger_name"},
      {with({{"patient_id", 3}}), "patient_id"},
      {with({{"therapist_id", nullptr}}), "patient_id"},
      {with({{"therapist_id", "7"}}), "therapist_id"},
      {with({{"therapist_id", 0}}), "therapist_id"},
      {with({{"therapist_id", 1.5}}), "therapist_id"},
      {with({{"therapist_id", 99999999999}}), "therapist_id"},
      {with({{"therapist_id", nullptr}, {"patient_id", "x"}}), "patient_id"},
      {with({{"inhalt_text", nullptr}}), "inhalt_markdown"},
      {with({{"inhalt_text", 1}}), "inhalt_text"},
      {with({{"inhalt_html", json::array()}}), "inhalt_html"},
      {with({{"inhalt_markdown", 1}}), "inhalt_markdown"},
      {with({{"inhalt_markdown", "# x"}, {"inhalt_html", "<p>x</p>"}}), "inhalt_html"},
      {with({{"absender_email", "nope"}}), "absender_email"},
      // Addresses the SMTP channel refuses were accepted here, then failed at sending.
      {with({{"empfaenger_email", "m\u00fcller@example.org"}}), "empfaenger_email"},
      {with({{"empfaenger_email", "a;b@example.org"}}), "empfaenger_email"},
      {with({{"absender_email", "x@y@z"}}), "absender_email"},
      {with({{"inhalt_text", std::string("a\0b", 3)}}), "inhalt_text"},  // was 500
      // cmark-gfm fills every table row to its column count: 7 KB took 2 s and 258 MB.
      {with({{"inhalt_markdown", tableBomb}}), "inhalt_markdown"},
      {with({{"inhalt_markdown", std::string(200, '>') + " x"}}), "inhalt_markdown"},
      {with({{"inhalt_markdown", std::string(200'000, 'x')}}), "inhalt_markdown"},
      {with({{"absender_email", "\"quoted\"@example.org"}}), "absender_email"},
      {with({{"absender_name", 1}}), "absender_name"},
      {with({{"add_legal_footer", "yes"}}), "add_legal_footer"},
      {with({{"status", "Gesendet"}}), "status"},
      {with({{"status", "Unbekannt"}}), "status"},
      {with({{"status", 1}}), "status"},
  };
  for (const Case& c : cases) {
    expectBadRequest(call("POST", "/api/emails", c.body), c.field, c.body);
  }
  EXPECT_EQ(count("SELECT count(*) FROM communication_service.emails"), 0);
  EXPECT_TRUE(outbox().empty());
}

// The original service's texts, which its clients match on (SPEC §7).
TEST_F(EmailApiTest, CreateAnswersWithTheOriginalTexts) {
  expectMessage(post(emailBody({{"therapist_id", nullptr}})), 400,
                "Either therapist_id or patient_id is required", "neither id");
  expectMessage(post(emailBody({{"patient_id", 3}})), 400,
                "Cannot specify both therapist_id and patient_id", "both ids");
  expectMessage(post(emailBody({{"inhalt_text", nullptr}})), 400,
                "Either inhalt_html, inhalt_text, or inhalt_markdown is required", "no body");
  EXPECT_EQ(count("SELECT count(*) FROM communication_service.emails"), 0);
}

// The platform's existing table has no defaults for created_at and
// updated_at: the API sets both itself.
TEST_F(EmailApiTest, CreateAndUpdateSetTimestampsWithoutColumnDefaults) {
  std::map<std::string, std::string> defaults;
  pool_->transaction([&](pqxx::work& tx) {
    for (const auto& row :
         tx.exec("SELECT column_name, COALESCE(column_default, '') FROM information_schema.columns "
                 "WHERE table_schema = 'communication_service' AND table_name = 'emails' "
                 "AND column_name IN ('created_at', 'updated_at')")) {
      defaults[row[0].as<std::string>()] = row[1].as<std::string>();
    }
  });
  ASSERT_EQ(defaults.size(), 2u);
  exec(
      "ALTER TABLE communication_service.emails ALTER created_at DROP DEFAULT, "
      "ALTER updated_at DROP DEFAULT");
  const auto id = create();
  json email = parse(byId("GET", id));
  EXPECT_TRUE(email["created_at"].is_string()) << email;
  EXPECT_TRUE(email["updated_at"].is_string()) << email;
  exec("UPDATE communication_service.emails SET updated_at = NULL WHERE id = " +
       std::to_string(id));
  email = parse(byId("PUT", id, {{"antwortinhalt", "x"}}));
  EXPECT_TRUE(email["updated_at"].is_string()) << email;
  for (const auto& [column, value] : defaults) {
    exec("ALTER TABLE communication_service.emails ALTER " + column +
         (value.empty() ? " DROP DEFAULT" : " SET DEFAULT " + value));
  }
}

// ---- get, delete ------------------------------------------------------------

// ---- concurrent creation (batched) -----------------------------------------

// Holds a lock on the emails table that blocks every INSERT until release()
// (or destruction), from a connection of its own.
class InsertBlocker {
 public:
  explicit InsertBlocker(const std::string& url) : connection_(url), tx_(connection_) {
    tx_.exec("LOCK TABLE communication_service.emails IN SHARE MODE");
  }
  void release() { tx_.abort(); }

 private:
  pqxx::connection connection_;
  pqxx::work tx_;
};

class EmailApiBatchTest : public EmailApiTest {
 protected:
  void SetUp() override {
    EmailApiTest::SetUp();
    api_ = std::make_unique<EmailApi>(*pool_, outbox_, channel_, context_->logger(),
                                      apiSettings(kAdmin).api);
  }

  /// Starts a POST of `body` on a thread of its own.
  std::future<HttpResponse> postAsync(const json& body) {
    return std::async(std::launch::async, [this, text = body.dump()] {
      HttpRequest request;
      request.method = "POST";
      request.path = "/api/emails";
      request.body = text;
      return api_->createEmail(request);
    });
  }

  /// Waits until `n` sessions wait for a lock; false after 10 s.
  bool awaitBlockedInserts(std::int64_t n) {
    return waitFor([&] {
      return count(
                 "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                 "AND datname = current_database()") >= n;
    });
  }

  /// Waits until `n` POSTs wait for a batch; false after 10 s.
  bool awaitWaitingPosts(std::size_t n) {
    return waitFor([&] { return api_->postsWaiting() >= n; });
  }

  static bool waitFor(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }

  std::unique_ptr<EmailApi> api_;
};

TEST_F(EmailApiBatchTest, PostsArrivingTogetherAreStoredTogetherEachWithItsOwnRowAndEvent) {
  InsertBlocker blocker(server_->url());
  // Two POSTs take the two batch slots and wait for the lock; six more
  // arrive meanwhile and wait for a slot.
  std::vector<json> bodies;
  std::vector<std::future<HttpResponse>> posts;
  for (int i = 1; i <= 8; ++i) {
    json extra = {{"betreff", "Anfrage \"" + std::to_string(i) + "\" \\ {a,b} NULL"}};
    if (i % 2 == 0) extra.update({{"therapist_id", nullptr}, {"patient_id", 100 + i}});
    if (i % 3 == 0) extra["status"] = "In_Warteschlange";
    bodies.push_back(emailBody(extra));
    posts.push_back(postAsync(bodies.back()));
    if (i == 2) ASSERT_TRUE(awaitBlockedInserts(2));
  }
  ASSERT_TRUE(awaitWaitingPosts(6));
  blocker.release();

  std::map<std::int64_t, json> created;  // by id
  for (std::size_t i = 0; i < posts.size(); ++i) {
    const HttpResponse r = posts[i].get();
    ASSERT_EQ(r.status, 201) << r.body;
    const json email = parse(r);
    EXPECT_EQ(email["betreff"], bodies[i]["betreff"]);
    EXPECT_EQ(email["therapist_id"], bodies[i].value("therapist_id", json()));
    EXPECT_EQ(email["patient_id"], bodies[i].value("patient_id", json()));
    EXPECT_EQ(email["status"], bodies[i].value("status", "Entwurf"));
    EXPECT_EQ(email["in_warteschlange_am"].is_null(), !bodies[i].contains("status"));
    created[email["id"].get<std::int64_t>()] = email;
  }
  ASSERT_EQ(created.size(), 8u);  // eight different ids
  // What each POST answered is what is stored.
  for (const auto& [id, email] : created) {
    EXPECT_EQ(parse(byId("GET", id)), email);
  }
  // Three transactions: the two that waited for the lock, and one for the six.
  // A row's xmin names the transaction that inserted it (created_at, the
  // transaction's start, can coincide for two transactions begun together).
  EXPECT_EQ(count("SELECT count(DISTINCT xmin::text) FROM communication_service.emails"), 3);
  EXPECT_EQ(count("SELECT max(n) FROM (SELECT count(*) AS n FROM communication_service.emails "
                  "GROUP BY xmin::text) AS t"),
            6);
  // One communication.email_created per email, keyed and filled by its row.
  const auto events = outbox();
  ASSERT_EQ(events.size(), 8u);
  std::set<std::string> keys;
  for (const auto& event : events) {
    EXPECT_EQ(event.type, "communication.email_created");
    const std::int64_t id = event.payload["email_id"].get<std::int64_t>();
    EXPECT_EQ(event.key, std::to_string(id));
    ASSERT_EQ(created.count(id), 1u) << event.key;
    EXPECT_EQ(event.payload["email_data"]["betreff"], created[id]["betreff"]);
    EXPECT_EQ(event.payload["email_data"]["patient_id"], created[id]["patient_id"]);
    keys.insert(event.key);
  }
  EXPECT_EQ(keys.size(), 8u);
}

TEST_F(EmailApiBatchTest, ABatchPostgresRefusesIsStoredOneByOneSoOnlyTheFaultyPostFails) {
  exec(
      "CREATE OR REPLACE FUNCTION public.test_refuse_boom() RETURNS trigger LANGUAGE plpgsql AS "
      "$$BEGIN IF NEW.betreff = 'boom' THEN RAISE EXCEPTION 'boom refused'; END IF; "
      "RETURN NEW; END$$");
  exec(
      "CREATE TRIGGER test_refuse_boom BEFORE INSERT ON communication_service.emails "
      "FOR EACH ROW EXECUTE FUNCTION public.test_refuse_boom()");
  // The suite's tests share the database: the trigger goes, even on failure.
  const std::unique_ptr<void, std::function<void(void*)>> dropTrigger(this, [this](void*) {
    exec("DROP TRIGGER test_refuse_boom ON communication_service.emails");
  });

  InsertBlocker blocker(server_->url());
  std::vector<std::future<HttpResponse>> posts;
  for (const char* betreff : {"first", "second", "ok-a", "boom", "ok-b"}) {
    posts.push_back(postAsync(emailBody({{"betreff", betreff}})));
    if (posts.size() == 2) ASSERT_TRUE(awaitBlockedInserts(2));
  }
  ASSERT_TRUE(awaitWaitingPosts(3));
  blocker.release();

  for (std::size_t i : {0u, 1u, 2u, 4u}) {
    const HttpResponse r = posts[i].get();
    EXPECT_EQ(r.status, 201) << i << ": " << r.body;
  }
  try {
    const HttpResponse r = posts[3].get();
    ADD_FAILURE() << "boom was answered " << r.status << ": " << r.body;
  } catch (const pqxx::sql_error& e) {
    EXPECT_NE(std::string(e.what()).find("boom refused"), std::string::npos) << e.what();
  }
  EXPECT_EQ(count("SELECT count(*) FROM communication_service.emails"), 4);
  EXPECT_EQ(count("SELECT count(*) FROM communication_service.emails WHERE betreff = 'boom'"), 0);
  EXPECT_EQ(outbox().size(), 4u);
}

// A batch's rows are matched to its POSTs by id order. A trigger of the
// platform's that numbers rows its own way (here: counting down) breaks that
// order: the batch is then stored one by one, and no POST answers with
// another's row.
TEST_F(EmailApiBatchTest, RowsNotNumberedInOrderAreStoredOneByOneNeverSwapped) {
  exec("CREATE SEQUENCE public.test_down_ids INCREMENT BY -1 START WITH 900000 MAXVALUE 900000");
  exec(
      "CREATE OR REPLACE FUNCTION public.test_down_id() RETURNS trigger LANGUAGE plpgsql AS "
      "$$BEGIN NEW.id := nextval('public.test_down_ids'); RETURN NEW; END$$");
  exec(
      "CREATE TRIGGER test_down_id BEFORE INSERT ON communication_service.emails "
      "FOR EACH ROW EXECUTE FUNCTION public.test_down_id()");
  const std::unique_ptr<void, std::function<void(void*)>> dropTrigger(this, [this](void*) {
    exec("DROP TRIGGER test_down_id ON communication_service.emails");
    exec("DROP FUNCTION public.test_down_id()");
    exec("DROP SEQUENCE public.test_down_ids");
  });

  InsertBlocker blocker(server_->url());
  std::vector<std::string> subjects = {"eins", "zwei", "drei", "vier", "fuenf"};
  std::vector<std::future<HttpResponse>> posts;
  for (const auto& betreff : subjects) {
    posts.push_back(postAsync(
        emailBody({{"betreff", betreff}, {"empfaenger_email", betreff + "@example.org"}})));
    if (posts.size() == 2) ASSERT_TRUE(awaitBlockedInserts(2));
  }
  ASSERT_TRUE(awaitWaitingPosts(3));
  blocker.release();

  std::set<std::int64_t> ids;
  for (std::size_t i = 0; i < posts.size(); ++i) {
    const HttpResponse r = posts[i].get();
    ASSERT_EQ(r.status, 201) << r.body;
    const json email = parse(r);
    EXPECT_EQ(email["betreff"], subjects[i]);
    EXPECT_EQ(email["empfaenger_email"], subjects[i] + "@example.org");
    const std::int64_t id = email["id"].get<std::int64_t>();
    EXPECT_EQ(parse(byId("GET", id)), email) << "answered with another POST's row";
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 5u);
  EXPECT_EQ(count("SELECT count(*) FROM communication_service.emails"), 5);
  const auto events = outbox();
  ASSERT_EQ(events.size(), 5u);
  for (const auto& event : events) {
    const std::int64_t id = event.payload["email_id"].get<std::int64_t>();
    EXPECT_EQ(event.key, std::to_string(id));
    EXPECT_EQ(event.payload["email_data"]["betreff"], parse(byId("GET", id))["betreff"]);
  }
}

TEST_F(EmailApiTest, GetByIdIncludesBodies) {
  const auto id = create();
  const HttpResponse r = byId("GET", id);
  ASSERT_EQ(r.status, 200) << r.body;
  const json email = parse(r);
  EXPECT_EQ(email["id"], id);
  EXPECT_TRUE(email["inhalt_html"].is_string());
  EXPECT_TRUE(email["inhalt_text"].is_string());
  EXPECT_EQ(email["betreff"], "Anfrage Therapieplatz");
}

// Every answer carrying an email is the text nlohmann writes for it
// (members in key order, the same escapes), with every member: the rows are
// written straight into the answer, not through nlohmann objects.
TEST_F(EmailApiTest, AnswersAreExactlyTheJsonTextOfTheirValues) {
  const std::string text = "\"zitiert\" back\\slash\ttab\x01\x1f\x7f Grüße ☃ 😀 </script>";
  const auto sameText = [](const HttpResponse& r, const std::string& what) {
    const json parsed = json::parse(r.body);
    EXPECT_EQ(r.body, parsed.dump(-1, ' ', false, json::error_handler_t::replace)) << what;
    return parsed;
  };
  const std::vector<std::string> summaryKeys = {
      "absender_email",      "absender_name",    "antwort_erhalten",
      "antwortdatum",        "antwortinhalt",    "betreff",
      "created_at",          "empfaenger_email", "empfaenger_name",
      "fehlermeldung",       "gesendet_am",      "id",
      "in_warteschlange_am", "patient_id",       "status",
      "therapist_id",        "updated_at",       "wiederholungsanzahl"};
  std::vector<std::string> fullKeys = summaryKeys;
  fullKeys.insert(fullKeys.end(), {"inhalt_html", "inhalt_text"});
  std::sort(fullKeys.begin(), fullKeys.end());
  const auto keys = [](const json& object) {
    std::vector<std::string> out;
    for (const auto& [key, value] : object.items()) out.push_back(key);
    return out;
  };

  const HttpResponse created =
      post(emailBody({{"inhalt_text", text}, {"betreff", "Grüße \"ü\" \\ ok"}}));
  ASSERT_EQ(created.status, 201) << created.body;
  const json email = sameText(created, "POST");
  EXPECT_EQ(keys(email), fullKeys);
  EXPECT_EQ(email["inhalt_text"].get<std::string>().rfind(text, 0), 0u);
  EXPECT_EQ(email["betreff"], "Grüße \"ü\" \\ ok");
  EXPECT_TRUE(email["patient_id"].is_null());
  EXPECT_EQ(email["therapist_id"], 7);
  EXPECT_EQ(email["antwort_erhalten"], false);
  EXPECT_EQ(email["wiederholungsanzahl"], 0);
  const auto id = email["id"].get<std::int64_t>();

  const HttpResponse updated =
      byId("PUT", id, json{{"antwort_erhalten", true}, {"antwortinhalt", text}});
  ASSERT_EQ(updated.status, 200) << updated.body;
  const json after = sameText(updated, "PUT");
  EXPECT_EQ(keys(after), fullKeys);
  EXPECT_EQ(after["antwortinhalt"], text);
  EXPECT_EQ(after["antwort_erhalten"], true);

  const HttpResponse got = byId("GET", id);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(sameText(got, "GET by id"), after);

  create({{"betreff", "zweite"}});
  const HttpResponse listed = list({{"limit", "5"}});
  ASSERT_EQ(listed.status, 200) << listed.body;
  const json page = sameText(listed, "GET list");
  EXPECT_EQ(keys(page), (std::vector<std::string>{"data", "limit", "page", "total"}));
  ASSERT_EQ(page["data"].size(), 2u);
  EXPECT_EQ(keys(page["data"][1]), summaryKeys);
  EXPECT_EQ(page["data"][1]["antwortinhalt"], text);
  EXPECT_EQ(page["data"][0]["betreff"], "zweite");
  EXPECT_EQ(page["total"], 2);

  const HttpResponse empty = list({{"therapist_id", "999"}});
  EXPECT_EQ(empty.body, R"({"data":[],"limit":20,"page":1,"total":0})");
}

// Ids no email can have answer like unknown ones (the original's Flask
// `<int:id>` routes answer 404 for them too), the same as /api/phone-calls.
TEST_F(EmailApiTest, UnknownAndMalformedIdsAre404) {
  for (const char* method : {"GET", "PUT", "DELETE"}) {
    for (const char* id :
         {"999", "abc", "-1", "0", "1.5", "", "1e3", "99999999999", "99999999999999999999"}) {
      const HttpResponse r = byId(method, std::string(id), R"({"status": "Entwurf"})");
      EXPECT_EQ(r.status, 404) << method << " " << id;
      EXPECT_EQ(parse(r), json({{"message", "Email not found"}})) << method << " " << id;
    }
  }
  // Before the body is read, as a route that does not match.
  EXPECT_EQ(parse(byId("PUT", std::string("abc"), "{oops")),
            json({{"message", "Email not found"}}));
}

TEST_F(EmailApiTest, DeleteRemovesTheEmail) {
  const auto id = create();
  const HttpResponse r = byId("DELETE", id);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(parse(r), json({{"message", "Email deleted successfully"}}));
  EXPECT_EQ(byId("GET", id).status, 404);
  EXPECT_EQ(byId("DELETE", id).status, 404);
}

// A sender holds the claim while the row is Wird_gesendet: a status change
// then either sent the email twice (back to In_Warteschlange) or lost its
// Gesendet and email.sent (Entwurf, Fehlgeschlagen, DELETE).
TEST_F(EmailApiTest, StatusChangesAndDeleteWaitWhileTheEmailIsBeingSent) {
  const auto id = create();
  exec("UPDATE communication_service.emails SET status = 'Wird_gesendet' WHERE id = " +
       std::to_string(id));
  for (const char* status : {"In_Warteschlange", "Entwurf", "Fehlgeschlagen", "Gesendet"}) {
    const HttpResponse r = byId("PUT", id, json({{"status", status}}));
    EXPECT_EQ(r.status, 409) << status << ": " << r.body;
    EXPECT_NE(parse(r)["message"].get<std::string>().find("being sent"), std::string::npos);
    EXPECT_EQ(r.headers.count("Retry-After"), 1u);
  }
  EXPECT_EQ(byId("DELETE", id).status, 409);
  EXPECT_EQ(parse(byId("GET", id))["status"], "Wird_gesendet");
  // Fields that do not touch the send still change.
  const HttpResponse answer = byId("PUT", id, json({{"antwortinhalt", "Danke"}}));
  EXPECT_EQ(answer.status, 200) << answer.body;
  // Once the send is recorded, the status is free again.
  exec("UPDATE communication_service.emails SET status = 'Gesendet' WHERE id = " +
       std::to_string(id));
  EXPECT_EQ(byId("PUT", id, json({{"status", "Entwurf"}})).status, 200);
  EXPECT_EQ(byId("DELETE", id).status, 200);
}

// ---- list -------------------------------------------------------------------

TEST_F(EmailApiTest, ListFiltersAndOrdersNewestFirst) {
  const auto t1 = create({{"therapist_id", 1}});
  const auto t2 = create({{"therapist_id", 2}, {"status", "In_Warteschlange"}});
  const auto p1 = create({{"therapist_id", nullptr}, {"patient_id", 1}});
  const auto p2 = create({{"therapist_id", nullptr}, {"patient_id", 2}});
  exec("UPDATE communication_service.emails SET antwort_erhalten = true WHERE id = " +
       std::to_string(p1));
  // Creation times: t2 newest, then p2, t1, p1.
  exec(
      "UPDATE communication_service.emails SET created_at = now() - make_interval(mins => "
      "CASE id WHEN " +
      std::to_string(t2) + " THEN 1 WHEN " + std::to_string(p2) + " THEN 2 WHEN " +
      std::to_string(t1) + " THEN 3 ELSE 4 END)");
  const auto ids = [&](std::map<std::string, std::string> query) {
    const HttpResponse r = list(query);
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<std::int64_t> out;
    const json body = parse(r);
    for (const auto& e : body["data"]) {
      EXPECT_FALSE(e.contains("inhalt_html"));
      out.push_back(e["id"]);
    }
    EXPECT_EQ(body["total"].get<std::size_t>(), out.size());
    return out;
  };
  using Ids = std::vector<std::int64_t>;
  EXPECT_EQ(ids({}), (Ids{t2, p2, t1, p1}));
  EXPECT_EQ(ids({{"therapist_id", "1"}}), (Ids{t1}));
  EXPECT_EQ(ids({{"patient_id", "2"}}), (Ids{p2}));
  EXPECT_EQ(ids({{"recipient_type", "therapist"}}), (Ids{t2, t1}));
  EXPECT_EQ(ids({{"recipient_type", "patient"}}), (Ids{p2, p1}));
  EXPECT_EQ(ids({{"status", "In_Warteschlange"}}), (Ids{t2}));
  EXPECT_EQ(ids({{"status", "Entwurf"}, {"recipient_type", "therapist"}}), (Ids{t1}));
  EXPECT_EQ(ids({{"status", "Kaputt"}}), (Ids{}));
  EXPECT_EQ(ids({{"antwort_erhalten", "true"}}), (Ids{p1}));
  EXPECT_EQ(ids({{"antwort_erhalten", "false"}}), (Ids{t2, p2, t1}));
  EXPECT_EQ(ids({{"therapist_id", "99"}}), (Ids{}));
  // An empty filter filters nothing.
  EXPECT_EQ(
      ids({{"therapist_id", ""}, {"status", ""}, {"recipient_type", ""}, {"antwort_erhalten", ""}}),
      (Ids{t2, p2, t1, p1}));

  expectBadRequest(list({{"therapist_id", "x"}}), "therapist_id", "therapist_id");
  expectBadRequest(list({{"patient_id", "1.5"}}), "patient_id", "patient_id");
  expectBadRequest(list({{"recipient_type", "arzt"}}), "recipient_type", "recipient_type");
  expectBadRequest(list({{"antwort_erhalten", "vielleicht"}}), "antwort_erhalten", "antwort");
  expectBadRequest(list({{"page", "eins"}}), "page", "page");
  expectBadRequest(list({{"limit", "viele"}}), "limit", "limit");
}

TEST_F(EmailApiTest, ListPaginatesAndClamps) {
  for (int i = 0; i < 5; ++i) create();
  const auto page = [&](std::map<std::string, std::string> query) { return parse(list(query)); };
  json body = page({});
  EXPECT_EQ(body["page"], 1);
  EXPECT_EQ(body["limit"], 20);
  EXPECT_EQ(body["total"], 5);
  EXPECT_EQ(body["data"].size(), 5u);

  body = page({{"page", "2"}, {"limit", "2"}});
  EXPECT_EQ(body["page"], 2);
  EXPECT_EQ(body["limit"], 2);
  EXPECT_EQ(body["total"], 5);
  ASSERT_EQ(body["data"].size(), 2u);
  EXPECT_EQ(body["data"][0]["id"], 3);  // ids 5 4 | 3 2 | 1
  EXPECT_EQ(body["data"][1]["id"], 2);

  body = page({{"page", "3"}, {"limit", "2"}});
  EXPECT_EQ(body["data"].size(), 1u);
  body = page({{"page", "9"}, {"limit", "2"}});
  EXPECT_EQ(body["data"].size(), 0u);
  EXPECT_EQ(body["total"], 5);

  body = page({{"limit", "2000"}});
  EXPECT_EQ(body["limit"], 1000);
  body = page({{"limit", "0"}});
  EXPECT_EQ(body["limit"], 1);
  EXPECT_EQ(body["data"].size(), 1u);
  body = page({{"limit", "-5"}});
  EXPECT_EQ(body["limit"], 1);
  body = page({{"page", "-1"}});
  EXPECT_EQ(body["page"], 1);
  EXPECT_EQ(body["data"].size(), 5u);
  body = page({{"page", "0"}});
  EXPECT_EQ(body["page"], 1);
}

// ---- list queries and totals (schema version 4) ----------------------------

/// The list through the API against the pre-version-4 query (one predicate
/// for every filter, count(*) over the table) as the reference.
class EmailListTest : public EmailApiTest {
 protected:
  using Query = std::map<std::string, std::string>;

  /// The ids and total a reference query gives for `query`.
  std::pair<std::vector<std::int64_t>, std::int64_t> reference(const Query& query) {
    const auto get = [&](const char* name) -> const char* {
      const auto it = query.find(name);
      return it == query.end() || it->second.empty() ? nullptr : it->second.c_str();
    };
    const auto number = [&](const char* name, std::int64_t fallback) {
      const char* v = get(name);
      return v ? std::stoll(v) : fallback;
    };
    const std::int64_t limit = number("limit", 20);
    const std::int64_t offset = (number("page", 1) - 1) * limit;
    const char* answered = get("antwort_erhalten");
    constexpr const char* kWhere =
        " FROM communication_service.emails WHERE "
        "($1::integer IS NULL OR therapist_id = $1::integer) "
        "AND ($2::integer IS NULL OR patient_id = $2::integer) "
        "AND ($3::text IS NULL "
        "OR ($3::text = 'therapist' AND therapist_id IS NOT NULL AND patient_id IS NULL) "
        "OR ($3::text = 'patient' AND patient_id IS NOT NULL AND therapist_id IS NULL)) "
        "AND ($4::text IS NULL OR status::text = $4::text) "
        "AND ($5::boolean IS NULL OR antwort_erhalten = $5::boolean)";
    std::vector<std::int64_t> ids;
    std::int64_t total = 0;
    pool_->transaction([&](pqxx::work& tx) {
      ids.clear();
      total = tx.exec_params1(std::string("SELECT count(*)") + kWhere, get("therapist_id"),
                              get("patient_id"), get("recipient_type"), get("status"), answered)[0]
                  .as<std::int64_t>();
      for (const auto& row :
           tx.exec_params(std::string("SELECT id") + kWhere +
                              " ORDER BY created_at DESC NULLS LAST, id DESC LIMIT $6 OFFSET $7",
                          get("therapist_id"), get("patient_id"), get("recipient_type"),
                          get("status"), answered, limit, offset)) {
        ids.push_back(row[0].as<std::int64_t>());
      }
    });
    return {ids, total};
  }

  /// Expects the API's page and total for `query` to equal the reference's.
  void expectSameAsReference(const Query& query) {
    std::string what;
    for (const auto& [k, v] : query) what += k + "=" + v + " ";
    const HttpResponse r = list(query);
    ASSERT_EQ(r.status, 200) << what << r.body;
    const json body = parse(r);
    std::vector<std::int64_t> ids;
    for (const auto& e : body["data"]) ids.push_back(e["id"].get<std::int64_t>());
    const auto [expectedIds, expectedTotal] = reference(query);
    EXPECT_EQ(ids, expectedIds) << what;
    EXPECT_EQ(body["total"].get<std::int64_t>(), expectedTotal) << what;
  }

  /// Every combination of the filters that the count table answers
  /// (recipient_type, status, antwort_erhalten) gives the reference total.
  void expectTotalsExact(const std::string& step) {
    SCOPED_TRACE(step);
    for (const char* type : {"", "therapist", "patient"}) {
      for (const char* status :
           {"", "Entwurf", "In_Warteschlange", "Wird_gesendet", "Gesendet", "Fehlgeschlagen"}) {
        for (const char* answered : {"", "true", "false"}) {
          const Query query = {{"recipient_type", type},
                               {"status", status},
                               {"antwort_erhalten", answered},
                               {"limit", "1"}};
          const HttpResponse r = list(query);
          ASSERT_EQ(r.status, 200) << r.body;
          EXPECT_EQ(parse(r)["total"].get<std::int64_t>(), reference(query).second)
              << "recipient_type=" << type << " status=" << status
              << " antwort_erhalten=" << answered;
        }
      }
    }
  }

  /// Rows of the count table (deltas not yet compacted included).
  std::int64_t countRows() {
    return count("SELECT count(*) FROM communication_service.commsvc_email_counts");
  }

  /// 90 emails of every kind: therapists 2-3 and patients 1-2, every
  /// status and NULL, answered or not, creation times with ties and NULLs.
  void seed() {
    exec(
        "INSERT INTO communication_service.emails (therapist_id, patient_id, betreff, "
        "inhalt_html, inhalt_text, empfaenger_email, empfaenger_name, absender_email, "
        "absender_name, status, antwort_erhalten, created_at) "
        "SELECT CASE WHEN i % 3 <> 0 THEN 1 + i % 3 END, CASE WHEN i % 3 = 0 THEN 1 + i % 2 END, "
        "'s', 'h', 't', 'a@example.org', 'n', 'b@example.org', 'n', "
        "(ARRAY['Entwurf','In_Warteschlange','Wird_gesendet','Gesendet','Fehlgeschlagen',NULL]"
        ")[1 + i % 6]::public.emailstatus, i % 4 = 0, "
        "CASE WHEN i % 11 = 0 THEN NULL ELSE timestamp '2026-01-01' + (i / 3) * interval '1 "
        "minute' END FROM generate_series(1, 90) AS i");
  }
};

TEST_F(EmailListTest, EveryFilterCombinationGivesTheReferenceRowsAndTotal) {
  seed();
  for (const char* therapist : {"", "2", "3", "99"}) {
    for (const char* patient : {"", "1"}) {
      for (const char* type : {"", "therapist", "patient"}) {
        for (const char* status : {"", "Entwurf", "Gesendet", "Kaputt"}) {
          for (const char* answered : {"", "true", "false"}) {
            for (const auto& [page, limit] : std::vector<std::pair<const char*, const char*>>{
                     {"1", "20"}, {"2", "4"}, {"50", "10"}}) {
              expectSameAsReference({{"therapist_id", therapist},
                                     {"patient_id", patient},
                                     {"recipient_type", type},
                                     {"status", status},
                                     {"antwort_erhalten", answered},
                                     {"page", page},
                                     {"limit", limit}});
            }
          }
        }
      }
    }
  }
}

TEST_F(EmailListTest, QueryTextDependsOnlyOnWhichFiltersAreGiven) {
  const ListQuery a = listQuery({.therapistId = 7, .status = "Gesendet"}, 20, 0);
  const ListQuery b = listQuery({.therapistId = 8, .status = "Entwurf"}, 5, 40);
  EXPECT_EQ(a.page, b.page);
  EXPECT_EQ(a.total, b.total);
  EXPECT_EQ(a.pageParams, (std::vector<std::string>{"7", "Gesendet", "7", "Gesendet", "20", "0"}));
  EXPECT_EQ(b.totalParams, (std::vector<std::string>{"8", "Entwurf"}));
  // Values never reach the SQL text; filters not given leave no trace.
  EXPECT_EQ(a.page.find("Gesendet"), std::string::npos);
  EXPECT_EQ(a.page.find("patient_id ="), std::string::npos);
  EXPECT_EQ(a.page.find("IS NULL OR"), std::string::npos);
  // Without an id filter the total comes from the count table.
  const ListQuery c = listQuery({.recipientType = "patient", .answered = true}, 20, 0);
  EXPECT_NE(c.total.find("commsvc_email_counts"), std::string::npos);
  EXPECT_EQ(c.totalParams, (std::vector<std::string>{"patient"}));
  EXPECT_EQ(a.total.find("commsvc_email_counts"), std::string::npos);
}

TEST_F(EmailListTest, TotalsStayExactThroughTheApi) {
  expectTotalsExact("empty");
  const auto t1 = create();
  const auto t2 = create({{"status", "In_Warteschlange"}});
  const auto p1 = create({{"therapist_id", nullptr}, {"patient_id", 4}});
  expectTotalsExact("created");
  ASSERT_EQ(byId("PUT", t1, json({{"status", "Gesendet"}})).status, 200);
  ASSERT_EQ(
      byId("PUT", p1, json({{"antwort_erhalten", true}, {"status", "Fehlgeschlagen"}})).status,
      200);
  // No counted column changes: no delta.
  ASSERT_EQ(byId("PUT", t2, json({{"fehlermeldung", "x"}})).status, 200);
  expectTotalsExact("updated");
  ASSERT_EQ(byId("DELETE", t2).status, 200);
  ASSERT_EQ(byId("DELETE", p1).status, 200);
  expectTotalsExact("deleted");
  EXPECT_EQ(parse(list())["total"], 1);
}

TEST_F(EmailListTest, TotalsStayExactThroughPlainSql) {
  seed();
  expectTotalsExact("seeded");
  exec("UPDATE communication_service.emails SET status = 'Gesendet' WHERE id % 5 = 0");
  expectTotalsExact("bulk status change");
  exec("UPDATE communication_service.emails SET status = NULL WHERE id % 7 = 0");
  expectTotalsExact("status NULL");
  exec(
      "UPDATE communication_service.emails SET patient_id = therapist_id, therapist_id = NULL "
      "WHERE therapist_id IS NOT NULL AND id % 2 = 0");
  expectTotalsExact("recipient swapped");
  exec("UPDATE communication_service.emails SET antwort_erhalten = NOT antwort_erhalten");
  expectTotalsExact("answered flipped");
  exec("DELETE FROM communication_service.emails WHERE id % 3 = 1");
  expectTotalsExact("bulk delete");
  // Many small statements: compactions happen on the way (1 in 64) and the
  // explicit one folds what is left into at most one row per group.
  for (int i = 0; i < 150; ++i) {
    exec(
        "UPDATE communication_service.emails SET status = CASE WHEN status = 'Entwurf' THEN "
        "'Gesendet' ELSE 'Entwurf' END::public.emailstatus WHERE id = " +
        std::to_string(2 + i % 60));
  }
  expectTotalsExact("many single-row updates");
  exec("SELECT communication_service.commsvc_email_counts_compact()");
  EXPECT_LE(countRows(), 6 * 3 * 2);
  EXPECT_EQ(count("SELECT count(*) FROM communication_service.commsvc_email_counts WHERE n = 0"),
            0);
  expectTotalsExact("compacted");
  exec("TRUNCATE communication_service.emails");
  EXPECT_EQ(countRows(), 0);
  expectTotalsExact("truncated");
  seed();
  expectTotalsExact("seeded again");
}

TEST_F(EmailListTest, TotalsStayExactUnderConcurrentWriters) {
  // Four threads on the pool's connections create, change and delete at
  // once; compactions run among them (one at a time, the others skip).
  constexpr int kThreads = 4;
  constexpr int kRounds = 60;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        const HttpResponse created = post(emailBody({{"therapist_id", 1 + t}}));
        if (created.status != 201) {
          ++failures;
          continue;
        }
        const std::int64_t id = json::parse(created.body)["id"].get<std::int64_t>();
        if (i % 2 == 0 && byId("PUT", id, json({{"status", "Gesendet"}})).status != 200) ++failures;
        if (i % 3 == 0 && byId("DELETE", id).status != 200) ++failures;
        if (i % 10 == 0) {
          pool_->transaction([](pqxx::work& tx) {
            tx.exec("SELECT communication_service.commsvc_email_counts_compact()");
          });
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  expectTotalsExact("after concurrent writers");
  EXPECT_EQ(parse(list())["total"], kThreads * (kRounds - kRounds / 3));
}

// ---- update -----------------------------------------------------------------

TEST_F(EmailApiTest, PutStatusFillsTimestampsAndGesendetAddsEmailSent) {
  const auto id = create();
  HttpResponse r = byId("PUT", id, {{"status", "In_Warteschlange"}});
  ASSERT_EQ(r.status, 200) << r.body;
  json email = parse(r);
  EXPECT_EQ(email["status"], "In_Warteschlange");
  const json queuedAt = email["in_warteschlange_am"];
  EXPECT_TRUE(queuedAt.is_string());
  EXPECT_TRUE(email["gesendet_am"].is_null());
  // A second queueing keeps the first time.
  r = byId("PUT", id, {{"status", "In_Warteschlange"}});
  EXPECT_EQ(parse(r)["in_warteschlange_am"], queuedAt);
  EXPECT_EQ(outbox().size(), 1u);  // email_created only

  r = byId("PUT", id, {{"status", "Gesendet"}});
  ASSERT_EQ(r.status, 200) << r.body;
  email = parse(r);
  EXPECT_EQ(email["status"], "Gesendet");
  const json sentAt = email["gesendet_am"];
  EXPECT_TRUE(sentAt.is_string());
  auto events = outbox();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].type, "email.sent");
  EXPECT_EQ(events[1].key, std::to_string(id));
  EXPECT_EQ(events[1].payload, json::parse(emailSentPayload({.id = id,
                                                             .therapistId = 7,
                                                             .patientId = std::nullopt,
                                                             .betreff = "Anfrage Therapieplatz"})));
  EXPECT_EQ(events[1].payload["communication_type"], "email");

  // Gesendet again: no second event, gesendet_am kept.
  r = byId("PUT", id, {{"status", "Gesendet"}});
  EXPECT_EQ(parse(r)["gesendet_am"], sentAt);
  EXPECT_EQ(outbox().size(), 2u);
}

TEST_F(EmailApiTest, PutGesendetOfAPatientsEmailAddsTheContactAndWaitsForIt) {
  // The contact publisher's outbox is the test outbox too: events and
  // contacts land in one table, in order.
  context_ = std::make_unique<testing::FakeContext>();
  context_->setChannel(&channel_);
  context_->setDatabase(pool_.get());
  context_->setOutbox(&outbox_);
  context_->setOutboxFor("patient-contact", &outbox_);
  handler_ = createEmailHandler(apiSettings(kAdmin, "patient-contact"), *context_);
  const auto toPatient = create({{"therapist_id", nullptr}, {"patient_id", 9}});
  const auto toTherapist = create();
  ASSERT_EQ(byId("PUT", toPatient, {{"status", "Gesendet"}}).status, 200);
  ASSERT_EQ(byId("PUT", toTherapist, {{"status", "Gesendet"}}).status, 200);
  ASSERT_EQ(byId("PUT", toPatient, {{"status", "Gesendet"}}).status, 200);  // unchanged: none
  const auto events = outbox();
  std::vector<testing::OutboxRow> contacts;
  for (const auto& e : events) {
    if (e.type == "patient.last_contact") contacts.push_back(e);
  }
  ASSERT_EQ(contacts.size(), 1u);
  EXPECT_EQ(contacts[0].key, "9");
  EXPECT_EQ(contacts[0].payload["patient_id"], 9);
  EXPECT_EQ(contacts[0].payload["email_id"], toPatient);
  EXPECT_TRUE(contacts[0].payload["date"].is_string());
  EXPECT_EQ(outbox_.awaited().size(), 1u) << "the PUT waited for its contact";
}

TEST_F(EmailApiTest, PutAnswerAddsResponseReceivedOnlyOnFalseToTrue) {
  const auto id = create({{"therapist_id", nullptr}, {"patient_id", 4}});
  HttpResponse r = byId("PUT", id,
                        {{"antwort_erhalten", true},
                         {"antwortdatum", "2026-01-15T10:30:00"},
                         {"antwortinhalt", "Gerne!"}});
  ASSERT_EQ(r.status, 200) << r.body;
  json email = parse(r);
  EXPECT_EQ(email["antwort_erhalten"], true);
  EXPECT_EQ(email["antwortdatum"], "2026-01-15T10:30:00.000000");
  EXPECT_EQ(email["antwortinhalt"], "Gerne!");
  auto events = outbox();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].type, "email.response_received");
  EXPECT_EQ(events[1].key, std::to_string(id));
  EXPECT_EQ(events[1].payload,
            json::parse(R"({"email_id": )" + std::to_string(id) +
                        R"(, "email_data": {"therapist_id": null, "patient_id": 4,
                "betreff": "Anfrage Therapieplatz", "recipient_type": "patient",
                "status": "Entwurf"}, "communication_type": "email", "patient_id": 4,
                "therapist_id": null})"));

  // true → true: nothing new; false and back to true: a new event.
  byId("PUT", id, {{"antwort_erhalten", true}});
  EXPECT_EQ(outbox().size(), 2u);
  byId("PUT", id, {{"antwort_erhalten", false}});
  EXPECT_EQ(outbox().size(), 2u);
  byId("PUT", id, {{"antwort_erhalten", true}});
  EXPECT_EQ(outbox().size(), 3u);
}

TEST_F(EmailApiTest, PutSetsAndClearsOptionalFields) {
  const auto id = create();
  HttpResponse r = byId("PUT", id,
                        {{"fehlermeldung", "550 unknown user"},
                         {"antwortdatum", "2026-03-01"},
                         {"status", "Fehlgeschlagen"}});
  ASSERT_EQ(r.status, 200) << r.body;
  json email = parse(r);
  EXPECT_EQ(email["fehlermeldung"], "550 unknown user");
  EXPECT_EQ(email["antwortdatum"], "2026-03-01T00:00:00.000000");
  EXPECT_EQ(email["status"], "Fehlgeschlagen");
  // Fields not named stay; null clears.
  r = byId("PUT", id, {{"fehlermeldung", nullptr}});
  email = parse(r);
  EXPECT_TRUE(email["fehlermeldung"].is_null());
  EXPECT_EQ(email["status"], "Fehlgeschlagen");
  EXPECT_EQ(email["antwortdatum"], "2026-03-01T00:00:00.000000");
  // With an offset: converted to the server's local time, like now().
  r = byId("PUT", id, {{"antwortdatum", "2026-03-01T12:00:00Z"}});
  ASSERT_EQ(r.status, 200) << r.body;
  std::string expected;
  pool_->transaction([&](pqxx::work& tx) {
    expected = tx.exec1(
                     "SELECT to_char('2026-03-01T12:00:00Z'::timestamptz::timestamp, "
                     "'YYYY-MM-DD\"T\"HH24:MI:SS.US')")[0]
                   .as<std::string>();
  });
  EXPECT_EQ(parse(r)["antwortdatum"], expected);
  for (const char* offset : {"+02", "+0530", "-03:30", "+14:59", "-14"}) {
    r = byId("PUT", id, {{"antwortdatum", std::string("2026-03-01T12:00:00.5") + offset}});
    EXPECT_EQ(r.status, 200) << offset << ": " << r.body;
  }
}

TEST_F(EmailApiTest, PutRejectsInvalidInputNamingTheField) {
  const auto id = create();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{oops", "JSON"},
      {"\"text\"", "object"},
      {R"({"status": "Verschickt"})", "status"},
      {R"({"status": null})", "status"},
      {R"({"status": 3})", "status"},
      {R"({"antwort_erhalten": "true"})", "antwort_erhalten"},
      {R"({"antwort_erhalten": null})", "antwort_erhalten"},
      {R"({"antwortdatum": "gestern"})", "antwortdatum"},
      {R"({"antwortdatum": "2026-02-30"})", "antwortdatum"},
      {R"({"antwortdatum": "2026-01-01T25:00"})", "antwortdatum"},
      {R"({"antwortdatum": "0000-01-01"})", "antwortdatum"},
      {R"({"antwortdatum": "2026-01-01T10:00+2"})", "antwortdatum"},
      // PostgreSQL refuses these offsets: they gave 500 before.
      {R"({"antwortdatum": "2026-01-01T10:00+99:99"})", "antwortdatum"},
      {R"({"antwortdatum": "2026-01-01T10:00:00-24"})", "antwortdatum"},
      {R"({"antwortdatum": "2026-01-01T10:00:00+01:60"})", "antwortdatum"},
      {R"({"antwortdatum": "2026-01-01T10:00:60"})", "antwortdatum"},
      {R"({"antwortdatum": "2026-01-01T10:00:00.1234567"})", "antwortdatum"},
      {R"({"antwortdatum": "2026-01-01T10:00:00Zx"})", "antwortdatum"},
      {R"({"antwortdatum": 20260101})", "antwortdatum"},
      {R"({"antwortinhalt": 1})", "antwortinhalt"},
      {R"({"fehlermeldung": false})", "fehlermeldung"},
  };
  for (const auto& [body, field] : cases) {
    expectBadRequest(byId("PUT", std::to_string(id), body), field, body);
  }
  EXPECT_EQ(parse(byId("GET", id))["status"], "Entwurf");
  EXPECT_EQ(outbox().size(), 1u);
}

// ---- system messages --------------------------------------------------------

TEST_F(EmailApiTest, SystemMessageGoesToTheAdminAddress) {
  const HttpResponse r = call("POST", "/api/system-messages",
                              R"({"subject": "Import fertig", "message": "42 neue\nEinträge",
                                  "sender_name": "Importer"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(parse(r),
            json({{"message", "System message sent successfully"}, {"recipient", kAdmin}}));
  const auto messages = channel_.messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].toAddress, kAdmin);
  EXPECT_EQ(messages[0].subject, "Import fertig");
  EXPECT_EQ(messages[0].textBody, "42 neue\nEinträge");
  EXPECT_EQ(messages[0].fromName, "Importer");
  EXPECT_EQ(messages[0].fromAddress, "info@example.org");
  EXPECT_NE(messages[0].htmlBody.find("42 neue<br>"), std::string::npos);
  // Nothing stored.
  EXPECT_EQ(count("SELECT count(*) FROM communication_service.emails"), 0);
  EXPECT_TRUE(outbox().empty());
}

TEST_F(EmailApiTest, SystemMessageValidationAndFailures) {
  const auto send = [&](const std::string& body) {
    return call("POST", "/api/system-messages", body);
  };
  // The original's texts (SPEC §7).
  expectMessage(send(R"({"message": "x"})"), 400, "Subject is required", "no subject");
  expectMessage(send(R"({"subject": "", "message": "x"})"), 400, "Subject is required",
                "empty subject");
  expectMessage(send(R"({"subject": null, "message": "x"})"), 400, "Subject is required",
                "null subject");
  expectMessage(send(R"({"subject": "s"})"), 400, "Message is required", "no message");
  expectMessage(send(R"({"subject": "s", "message": ""})"), 400, "Message is required",
                "empty message");
  expectMessage(send("{}"), 400, "No data provided", "empty object");
  expectMessage(send(""), 400, "No data provided", "no body");
  expectMessage(send("nope"), 400, "No data provided", "malformed");
  expectMessage(send("[1]"), 400, "No data provided", "array");
  // Ours, naming the field, where the original has no text.
  expectBadRequest(send("nope"), "JSON", "malformed");
  expectBadRequest(send(R"({"subject": 1, "message": "x"})"), "subject", "subject type");
  expectBadRequest(send(R"({"subject": "a\nb", "message": "x"})"), "subject", "subject CRLF");
  expectBadRequest(send(R"({"subject": "s", "message": ["x"]})"), "message", "message type");
  expectBadRequest(send(R"({"subject": "s", "message": "x", "sender_name": 5})"), "sender_name",
                   "sender_name type");
  EXPECT_TRUE(channel_.messages().empty());

  channel_.setResult(DeliveryResult::permanent("554 relay denied"));
  HttpResponse r = send(R"({"subject": "s", "message": "x"})");
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(parse(r)["message"].get<std::string>().find("554 relay denied"), std::string::npos);

  makeHandler("");  // not configured
  r = send(R"({"subject": "s", "message": "x"})");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(parse(r)["message"].get<std::string>().find("system_notification_email"),
            std::string::npos);
}

}  // namespace
}  // namespace commsvc::plugins::email
