#include "http_publisher.hpp"

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "commsvc/plugin.hpp"
#include "commsvc/testing/fake_context.hpp"
#include "http_sink_process.hpp"

namespace commsvc::plugins::publisher_http {
namespace {

using namespace std::chrono_literals;
using commsvc::testing::HttpSinkProcess;
using commsvc::testing::InMemoryMetrics;
using commsvc::testing::RecordingLogger;
using Status = PublishResult::Status;
using Clock = std::chrono::steady_clock;

/// The declaration of option `name`.
const OptionSpec& option(std::string_view name) {
  for (const OptionSpec& spec : kOptions.specs) {
    if (name == spec.name) return spec;
  }
  throw std::logic_error("no option " + std::string(name));
}

/// The patient service's last-contact update, against `baseUrl`.
HttpPublisherSettings lastContact(const std::string& baseUrl) {
  return {.baseUrl = baseUrl,
          .path = "/api/patients/{patient_id}/last-contact",
          .method = HttpMethod::Patch,
          .body = R"({"date": {date}})"};
}

/// A last-contact event for `patientId`.
Event contactEvent(int patientId, const std::string& date = "2026-01-02") {
  return makeEvent(
      "patient.last_contact", std::to_string(patientId),
      R"({"patient_id":)" + std::to_string(patientId) + R"(,"date":")" + date + R"("})");
}

/// The message of the ConfigError resolveOptions throws, or "<no error>".
std::string configError(const HttpPublisherSettings& settings) {
  try {
    resolveOptions(settings);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no error>";
}

/// Collects outcomes from any thread.
class Outcomes {
 public:
  /// A callback that records into this collector.
  PublishCallback callback() {
    return [this](const PublishResult& result) {
      std::lock_guard lock(mutex_);
      results_.push_back(result);
      changed_.notify_all();
    };
  }
  /// Waits until `count` outcomes arrived; false after `timeout`.
  bool waitFor(std::size_t count, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return results_.size() >= count; });
  }
  /// A copy of the outcomes so far.
  std::vector<PublishResult> all() const {
    std::lock_guard lock(mutex_);
    return results_;
  }
  /// The only outcome (fails the test when there is not exactly one).
  PublishResult single() const {
    auto results = all();
    EXPECT_EQ(results.size(), 1u);
    return results.empty() ? PublishResult::failed("<none>") : results.front();
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<PublishResult> results_;
};

class HttpPublisherTest : public ::testing::Test {
 protected:
  std::unique_ptr<HttpPublisher> make(const HttpPublisherSettings& settings) {
    return std::make_unique<HttpPublisher>(resolveOptions(settings), logger_, metrics_,
                                           "publishers.patients");
  }

  /// Publishes one event and waits for its outcome.
  PublishResult publishOne(HttpPublisher& publisher, Event event) {
    Outcomes outcomes;
    publisher.publish(std::move(event), outcomes.callback());
    EXPECT_TRUE(outcomes.waitFor(1));
    return outcomes.single();
  }

  /// True when no log line holds `secret`.
  bool logsFreeOf(const std::string& secret) const {
    for (const auto& line : logger_.entries()) {
      if (line.message.find(secret) != std::string::npos) return false;
      for (const auto& [key, value] : line.fields) {
        if (value.find(secret) != std::string::npos) return false;
      }
    }
    return true;
  }

  RecordingLogger logger_;
  InMemoryMetrics metrics_;
};

// --- configuration ---------------------------------------------------------

TEST_F(HttpPublisherTest, EmptyBaseUrlIsOff) {
  auto publisher = make({});
  const PublisherStatus status = publisher->status();
  EXPECT_FALSE(status.on);
  EXPECT_EQ(status.detail, "base_url is empty");
  Outcomes outcomes;
  publisher->publish(contactEvent(1), outcomes.callback());  // reported at once
  const PublishResult result = outcomes.single();
  EXPECT_EQ(result.status, Status::Rejected);
  EXPECT_EQ(result.error.rfind("publisher is off", 0), 0u) << result.error;
  publisher->publish(contactEvent(2), nullptr);  // no callback is fine
  EXPECT_TRUE(publisher->flush(0ms));
}

TEST_F(HttpPublisherTest, SetBaseUrlIsOn) {
  auto publisher = make(lastContact("http://127.0.0.1:9"));
  EXPECT_TRUE(publisher->status().on);
  EXPECT_EQ(publisher->redactedUrlFor(contactEvent(42)),
            "http://127.0.0.1:9/api/patients/42/last-contact");
}

TEST_F(HttpPublisherTest, BaseUrlMustBeHttpWithoutQuery) {
  EXPECT_EQ(configError({.baseUrl = "ftp://h"}), "base_url: must start with http:// or https://");
  EXPECT_EQ(configError({.baseUrl = "localhost:8080"}),
            "base_url: must start with http:// or https://");
  const std::string query = configError({.baseUrl = "http://h/x?token=t0k3n"});
  EXPECT_EQ(query.rfind("base_url: must not hold a query", 0), 0u) << query;
  EXPECT_EQ(query.find("t0k3n"), std::string::npos);
  EXPECT_NE(configError({.baseUrl = "http://h/x#f"}).find("fragment"), std::string::npos);
  EXPECT_NE(configError({.baseUrl = "http://a b"}).find("spaces"), std::string::npos);
  EXPECT_EQ(configError({.baseUrl = "HTTPS://Patients.internal:8443/prefix/"}), "<no error>");
}

TEST_F(HttpPublisherTest, UserInfoNeverAppearsInUrlsOfMessages) {
  const auto options =
      resolveOptions({.baseUrl = "http://u:pw@h:81/v1/", .path = "/x/{id}?sig=abc"});
  EXPECT_EQ(options.redactedBaseUrl, "http://h:81/v1/");
  HttpPublisher publisher(options, logger_, metrics_, "p");
  EXPECT_EQ(publisher.redactedUrlFor(makeEvent("t", "1", R"({"id":"a/b"})")),
            "http://h:81/v1/x/a%2Fb");
}

TEST_F(HttpPublisherTest, BadTemplatesAndValuesAreConfigErrorsNamingTheOption) {
  EXPECT_EQ(configError({.path = "/p/{id"}).rfind("path: unclosed '{'", 0), 0u);
  EXPECT_EQ(configError({.body = R"({"date": {date})"}).rfind("body: ", 0), 0u);
  EXPECT_EQ(configError({.method = HttpMethod::Get, .body = "{}"}),
            "body: a GET request carries no body");
  // Another method is refused when the block is validated: it is none of
  // the option's choices.
  EXPECT_EQ(option("method").findChoice("TRACE"), nullptr);
  EXPECT_EQ(configError({.caFile = "/no/such/ca.pem"}), "ca_file: cannot read '/no/such/ca.pem'");
  const std::map<std::string, std::string> badName = {{"Bad Name", "x"}};
  EXPECT_EQ(configError({.headers = badName}), "headers: 'Bad Name' is not a valid header name");
  const std::map<std::string, std::string> badValue = {{"Authorization", "Bearer s3cr\r\nX: 1"}};
  const std::string error = configError({.headers = badValue});
  EXPECT_EQ(error.rfind("headers: the value of 'Authorization'", 0), 0u) << error;
  EXPECT_EQ(error.find("s3cr"), std::string::npos);
}

TEST_F(HttpPublisherTest, ContentTypeDefaultsToJsonWhenABodyIsSent) {
  auto has = [](const HttpPublisherOptions& o, const std::string& line) {
    return std::find(o.headerLines.begin(), o.headerLines.end(), line) != o.headerLines.end();
  };
  const auto post = resolveOptions({});
  EXPECT_EQ(post.body, HttpPublisherOptions::Body::Envelope);
  EXPECT_TRUE(has(post, "Content-Type: application/json"));
  const auto get = resolveOptions({.method = HttpMethod::Get});
  EXPECT_EQ(get.body, HttpPublisherOptions::Body::None);
  EXPECT_FALSE(has(get, "Content-Type: application/json"));
  const auto del = resolveOptions({.method = HttpMethod::Delete});
  EXPECT_EQ(del.body, HttpPublisherOptions::Body::None);
  // A given content type wins, and a non-JSON one makes the body plain text.
  const std::map<std::string, std::string> form = {
      {"content-type", "application/x-www-form-urlencoded"}};
  const auto text = resolveOptions({.body = "a={a", .headers = form});
  EXPECT_TRUE(has(text, "content-type: application/x-www-form-urlencoded"));
  EXPECT_FALSE(has(text, "Content-Type: application/json"));
  EXPECT_EQ(text.bodyTemplate.render(nlohmann::json{{"a", 1}}), "a={a");
}

TEST(HttpPublisherOptionsTest, OptionsAreDeclaredSoundlyWithTheirDefaults) {
  EXPECT_TRUE(optionDeclarationProblems(kOptions.span()).empty());
  std::vector<std::string> described;
  for (const OptionSpec& spec : kOptions.specs) {
    described.push_back(std::string(spec.name) + "=" + describeDefault(spec));
  }
  EXPECT_EQ(described,
            (std::vector<std::string>{"base_url=\"\"", "path=\"\"", "method=\"POST\"", "body=\"\"",
                                      "headers=(secret)", "timeout_ms=5000",
                                      "connect_timeout_ms=2000", "verify_tls=true", "ca_file=\"\"",
                                      "connections=4", "queue_limit=10000"}));
  const auto methodOf = [](std::string_view text) {
    const OptionChoice* found = option("method").findChoice(text);
    return found == nullptr ? std::string("<none>")
                            : methodName(static_cast<HttpMethod>(found->value));
  };
  for (const std::string method : {"GET", "POST", "PUT", "PATCH", "DELETE"}) {
    EXPECT_EQ(methodOf(method), method);
  }
  EXPECT_EQ(methodOf("get"), "<none>");
  EXPECT_EQ(option("queue_limit").maximum, 10000000);
}

// --- requests against a real HTTP server -----------------------------------

TEST_F(HttpPublisherTest, PatchesLastContactWithBodyAndHeaders) {
  HttpSinkProcess sink;
  auto options = lastContact(sink.url());
  options.headers = {{"Authorization", "Bearer s3cret"}, {"X-Empty", ""}};
  auto publisher = make(options);
  const PublishResult result = publishOne(*publisher, contactEvent(42));
  EXPECT_EQ(result.status, Status::Published) << result.error;
  EXPECT_EQ(result.error, "");

  const auto requests = sink.requests();
  ASSERT_EQ(requests.size(), 1u);
  const auto& request = requests[0];
  EXPECT_EQ(request.method, "PATCH");
  EXPECT_EQ(request.path, "/api/patients/42/last-contact");
  EXPECT_EQ(request.body, R"({"date": "2026-01-02"})");
  EXPECT_EQ(request.header("Content-Type"), "application/json");
  EXPECT_EQ(request.header("Authorization"), "Bearer s3cret");
  EXPECT_TRUE(request.headers.count("X-Empty") == 1);
  EXPECT_EQ(request.header("User-Agent").rfind("commsvc-publisher-http/", 0), 0u);
  EXPECT_EQ(request.header("Expect"), "");
  EXPECT_TRUE(logsFreeOf("s3cret"));
}

TEST_F(HttpPublisherTest, DefaultBodyIsTheEventEnvelope) {
  HttpSinkProcess sink;
  auto publisher = make({.baseUrl = sink.url() + "/", .path = "/hooks/events"});
  Event event = makeEvent("email.sent", "7", R"({"email_id":7,"betreff":"Gr\u00fc\u00dfe"})");
  const std::string envelope = toEnvelopeJson(event);
  EXPECT_EQ(publishOne(*publisher, std::move(event)).status, Status::Published);
  const auto requests = sink.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].path, "/hooks/events");  // no doubled slash
  EXPECT_EQ(requests[0].body, envelope);
}

TEST_F(HttpPublisherTest, GetAndDeleteSendNoBody) {
  HttpSinkProcess sink;
  for (const HttpMethod method : {HttpMethod::Get, HttpMethod::Delete}) {
    auto publisher =
        make({.baseUrl = sink.url(), .path = "/p/{patient_id}?date={date}", .method = method});
    EXPECT_EQ(publishOne(*publisher, contactEvent(3)).status, Status::Published);
  }
  const auto requests = sink.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[1].method, "DELETE");
  for (const auto& request : requests) {
    EXPECT_EQ(request.path, "/p/3?date=2026-01-02");
    EXPECT_EQ(request.body, "");
  }
}

struct OutcomeCase {
  std::string control;        // the sink's rule
  Status status;              // the expected outcome
  std::string errorContains;  // a part of its text
};

TEST_F(HttpPublisherTest, AnswersMapToOutcomes) {
  HttpSinkProcess sink;
  auto publisher = make(lastContact(sink.url()));
  const std::string what = "PATCH " + sink.url() + "/api/patients/42/last-contact: ";
  const std::vector<OutcomeCase> cases = {
      {"status 200", Status::Published, ""},
      {"status 204", Status::Published, ""},
      {"status 503 body {\"message\": \"down\"}", Status::Failed,
       what + "HTTP 503: {\"message\": \"down\"}"},
      {"status 500", Status::Failed, what + "HTTP 500: {}"},
      {"status 502 body ", Status::Failed, what + "HTTP 502"},
      {"status 429", Status::Failed, what + "HTTP 429"},
      {"status 408", Status::Failed, what + "HTTP 408"},
      {"status 425", Status::Failed, what + "HTTP 425"},
      {"status 404 body {\"message\": \"Patient not found\"}", Status::Rejected,
       what + "HTTP 404: {\"message\": \"Patient not found\"}"},
      {"status 400", Status::Rejected, what + "HTTP 400"},
      {"status 409", Status::Rejected, what + "HTTP 409"},
      {"status 302", Status::Rejected, what + "HTTP 302 (redirects are not followed)"},
      {"close", Status::Failed, what + "connection closed without an answer"},
  };
  for (const auto& c : cases) {
    sink.setControl(c.control);
    const PublishResult result = publishOne(*publisher, contactEvent(42));
    EXPECT_EQ(result.status, c.status) << c.control << ": " << result.error;
    EXPECT_NE(result.error.find(c.errorContains), std::string::npos)
        << c.control << ": " << result.error;
    if (c.status == Status::Published) EXPECT_EQ(result.error, "");
  }
  // A 302 is not followed: each rule above made its request(s), none more.
  for (const auto& request : sink.requests()) {
    EXPECT_EQ(request.path, "/api/patients/42/last-contact");
  }
}

TEST_F(HttpPublisherTest, ErrorTextIsOneBoundedLine) {
  HttpSinkProcess sink;
  auto publisher = make(lastContact(sink.url()));
  sink.setControl("status 500 body " + std::string(500, 'x'));
  const PublishResult result = publishOne(*publisher, contactEvent(1));
  EXPECT_EQ(result.status, Status::Failed);
  EXPECT_NE(result.error.find(std::string(200, 'x') + "..."), std::string::npos) << result.error;
  EXPECT_EQ(result.error.find(std::string(201, 'x')), std::string::npos);
  EXPECT_EQ(result.error.find('\n'), std::string::npos);
}

TEST_F(HttpPublisherTest, ConnectionRefusedFails) {
  const std::string url = "http://127.0.0.1:" + std::to_string(commsvc::testing::unusedPort());
  auto publisher = make(lastContact(url));
  const auto start = Clock::now();
  const PublishResult result = publishOne(*publisher, contactEvent(5));
  EXPECT_LT(Clock::now() - start, 2s);
  EXPECT_EQ(result.status, Status::Failed);
  EXPECT_EQ(result.error.rfind("PATCH " + url + "/api/patients/5/last-contact: cannot connect", 0),
            0u)
      << result.error;
}

TEST_F(HttpPublisherTest, UnresolvableHostFails) {
  auto publisher = make(lastContact("http://no-such-host.invalid"));
  const PublishResult result = publishOne(*publisher, contactEvent(5));
  EXPECT_EQ(result.status, Status::Failed);
  EXPECT_NE(result.error.find("cannot resolve"), std::string::npos) << result.error;
}

TEST_F(HttpPublisherTest, SlowAnswerFailsWithinTheTimeout) {
  HttpSinkProcess sink;
  sink.setControl("delay 3000");
  auto options = lastContact(sink.url());
  options.timeout = 300ms;
  auto publisher = make(options);
  const auto start = Clock::now();
  const PublishResult result = publishOne(*publisher, contactEvent(5));
  const auto took = Clock::now() - start;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 1500ms);
  EXPECT_EQ(result.status, Status::Failed);
  EXPECT_NE(result.error.find(": timed out (curl: "), std::string::npos) << result.error;
}

TEST_F(HttpPublisherTest, UnusablePayloadIsRejectedWithoutARequest) {
  HttpSinkProcess sink;
  auto publisher = make(lastContact(sink.url()));
  Outcomes outcomes;
  publisher->publish(makeEvent("t", "1", R"({"patient_id": 1})"), outcomes.callback());
  publisher->publish(makeEvent("t", "1", R"({"date": "2026-01-02"})"), outcomes.callback());
  publisher->publish(makeEvent("t", "1", R"({"patient_id": {}, "date": "x"})"),
                     outcomes.callback());
  publisher->publish(makeEvent("t", "1", "not json"), outcomes.callback());
  // Reported at once, on the calling thread.
  const auto results = outcomes.all();
  ASSERT_EQ(results.size(), 4u);
  EXPECT_EQ(results[0].status, Status::Rejected);
  EXPECT_EQ(results[0].error, "payload has no field 'date'");
  EXPECT_EQ(results[1].error, "payload has no field 'patient_id'");
  EXPECT_NE(results[2].error.find("not a string or integer"), std::string::npos);
  EXPECT_EQ(results[3].error, "payload is not valid JSON");
  for (const auto& r : results) EXPECT_EQ(r.status, Status::Rejected);
  EXPECT_TRUE(publisher->flush(1s));
  EXPECT_TRUE(sink.requests().empty());
}

TEST_F(HttpPublisherTest, ReusesKeptAliveConnections) {
  HttpSinkProcess sink;
  auto options = lastContact(sink.url());
  options.connections = 1;
  auto publisher = make(options);
  Outcomes outcomes;
  for (int i = 0; i < 6; ++i) publisher->publish(contactEvent(i), outcomes.callback());
  ASSERT_TRUE(publisher->flush(10s));
  ASSERT_EQ(outcomes.all().size(), 6u);
  for (const auto& r : outcomes.all()) EXPECT_EQ(r.status, Status::Published) << r.error;
  const auto requests = sink.requests();
  ASSERT_EQ(requests.size(), 6u);
  for (const auto& request : requests) EXPECT_EQ(request.clientPort, requests[0].clientPort);
  // In order, with one connection.
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(requests[i].path, "/api/patients/" + std::to_string(i) + "/last-contact");
  }
}

TEST_F(HttpPublisherTest, WorkersSendInParallel) {
  HttpSinkProcess sink;
  sink.setControl("delay 500");
  auto options = lastContact(sink.url());
  options.connections = 4;
  auto publisher = make(options);
  Outcomes outcomes;
  const auto start = Clock::now();
  for (int i = 0; i < 8; ++i) publisher->publish(contactEvent(i), outcomes.callback());
  ASSERT_TRUE(publisher->flush(10s));
  EXPECT_LT(Clock::now() - start, 3s);  // one after another would take 4 s
  std::set<int> ports;
  for (const auto& request : sink.requests()) ports.insert(request.clientPort);
  EXPECT_GE(ports.size(), 2u);
  EXPECT_LE(ports.size(), 4u);
}

TEST_F(HttpPublisherTest, FlushWaitsForEveryOutcome) {
  HttpSinkProcess sink;
  sink.setControl("delay 400");
  auto options = lastContact(sink.url());
  options.connections = 1;
  auto publisher = make(options);
  Outcomes outcomes;
  publisher->publish(contactEvent(1), outcomes.callback());
  publisher->publish(contactEvent(2), outcomes.callback());
  EXPECT_FALSE(publisher->flush(50ms));
  EXPECT_TRUE(publisher->flush(10s));
  EXPECT_EQ(outcomes.all().size(), 2u);
  EXPECT_TRUE(publisher->flush(0ms));
}

TEST_F(HttpPublisherTest, FullQueueFailsAtOnce) {
  HttpSinkProcess sink;
  sink.setControl("delay 500");
  auto options = lastContact(sink.url());
  options.connections = 1;
  options.queueLimit = 1;
  auto publisher = make(options);
  Outcomes outcomes;
  for (int i = 0; i < 3; ++i) publisher->publish(contactEvent(i), outcomes.callback());
  const auto early = outcomes.all();
  ASSERT_GE(early.size(), 1u);
  EXPECT_EQ(early[0].status, Status::Failed);
  EXPECT_EQ(early[0].error.rfind("queue full", 0), 0u) << early[0].error;
  EXPECT_TRUE(publisher->flush(10s));
  EXPECT_EQ(outcomes.all().size(), 3u);
}

TEST_F(HttpPublisherTest, DestructorFailsQueuedEventsAndFinishesTheRunningOne) {
  HttpSinkProcess sink;
  sink.setControl("delay 1000");
  auto options = lastContact(sink.url());
  options.connections = 1;
  auto publisher = make(options);
  Outcomes outcomes;
  for (int i = 0; i < 4; ++i) publisher->publish(contactEvent(i), outcomes.callback());
  ASSERT_TRUE(sink.waitForRequests(1, 5s));  // the first is under way
  const auto start = Clock::now();
  publisher.reset();
  EXPECT_LT(Clock::now() - start, 3s);
  const auto results = outcomes.all();
  ASSERT_EQ(results.size(), 4u);  // each reported exactly once
  int stopped = 0;
  int published = 0;
  for (const auto& r : results) {
    if (r.status == Status::Failed && r.error.rfind("publisher stopped", 0) == 0) ++stopped;
    if (r.status == Status::Published) ++published;
  }
  EXPECT_EQ(stopped, 3);
  EXPECT_EQ(published, 1);
}

TEST_F(HttpPublisherTest, RecoversWhenTheServerComesBack) {
  HttpSinkProcess sink;
  auto publisher = make(lastContact(sink.url()));
  EXPECT_EQ(publishOne(*publisher, contactEvent(1)).status, Status::Published);
  sink.stop();
  const PublishResult down = publishOne(*publisher, contactEvent(2));
  EXPECT_EQ(down.status, Status::Failed) << down.error;
  sink.restart();
  EXPECT_EQ(publishOne(*publisher, contactEvent(3)).status, Status::Published);
  const auto requests = sink.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].path, "/api/patients/3/last-contact");
  // The failure was logged once at warn, the recovery at info.
  int warnings = 0;
  int recoveries = 0;
  for (const auto& line : logger_.entries()) {
    if (line.level == LogLevel::Warn) ++warnings;
    if (line.level == LogLevel::Info && line.message.find("succeed again") != std::string::npos) {
      ++recoveries;
    }
  }
  EXPECT_EQ(warnings, 1);
  EXPECT_EQ(recoveries, 1);
}

TEST_F(HttpPublisherTest, UserInfoAndQueryStayOutOfErrors) {
  HttpSinkProcess sink;
  sink.setControl("status 401");
  const std::string base = "http://svc:pw-s3cret@127.0.0.1:" + std::to_string(sink.port());
  auto publisher =
      make({.baseUrl = base, .path = "/x/{patient_id}?token=t0k3n", .method = HttpMethod::Put});
  const PublishResult result = publishOne(*publisher, contactEvent(9));
  EXPECT_EQ(result.status, Status::Rejected);
  EXPECT_EQ(result.error, "PUT " + sink.url() + "/x/9: HTTP 401: {}");
  const auto requests = sink.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].path, "/x/9?token=t0k3n");
  EXPECT_EQ(requests[0].header("Authorization").rfind("Basic ", 0), 0u);
  EXPECT_TRUE(logsFreeOf("pw-s3cret"));
  EXPECT_TRUE(logsFreeOf("t0k3n"));
}

TEST_F(HttpPublisherTest, CountsOutcomes) {
  HttpSinkProcess sink;
  auto publisher = make(lastContact(sink.url()));
  publishOne(*publisher, contactEvent(1));
  sink.setControl("status 404");
  publishOne(*publisher, contactEvent(2));
  publishOne(*publisher, makeEvent("t", "3", "{}"));
  const auto count = [&](const char* result) {
    return metrics_.counterValue("http_publisher_requests_total",
                                 {{"publisher", "publishers.patients"}, {"result", result}});
  };
  EXPECT_EQ(count("published"), 1);
  EXPECT_EQ(count("rejected"), 2);
  EXPECT_EQ(count("failed"), 0);
}

TEST_F(HttpPublisherTest, CallbackExceptionsDoNotStopTheWorker) {
  HttpSinkProcess sink;
  auto options = lastContact(sink.url());
  options.connections = 1;
  auto publisher = make(options);
  publisher->publish(contactEvent(1), [](const PublishResult&) { throw std::runtime_error("x"); });
  EXPECT_EQ(publishOne(*publisher, contactEvent(2)).status, Status::Published);
}

// --- the plugin ------------------------------------------------------------

TEST(HttpPublisherPluginTest, DescriptorIsAnHttpPublisher) {
  void* library = dlopen(COMMSVC_HTTP_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(library, nullptr) << dlerror();
  const auto* info = static_cast<const PluginInfo*>(dlsym(library, kPluginSymbol));
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->abiVersion, kAbiVersion);
  EXPECT_EQ(info->kind, PluginKind::Publisher);
  EXPECT_STREQ(info->name, "http");
  ASSERT_EQ(info->optionCount, kOptions.specs.size());
  std::vector<std::string> names;
  for (std::size_t i = 0; i < info->optionCount; ++i) names.push_back(info->options[i].name);
  EXPECT_EQ(names, (std::vector<std::string>{"base_url", "path", "method", "body", "headers",
                                             "timeout_ms", "connect_timeout_ms", "verify_tls",
                                             "ca_file", "connections", "queue_limit"}));
  EXPECT_TRUE(info->options[4].isSecret);  // headers
  EXPECT_NE(info->createPublisher, nullptr);
  dlclose(library);
}

}  // namespace
}  // namespace commsvc::plugins::publisher_http
