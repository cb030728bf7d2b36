#include "http/server.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "../../support/fake_logging.hpp"
#include "logging/metrics_registry.hpp"
#include "test_client.hpp"

namespace commsvc::http {
namespace {

using namespace std::chrono_literals;
using testing::Client;
using testing::Response;
namespace bhttp = boost::beast::http;

std::string describe(const HttpRequest& request) {
  std::string out = request.method + " " + request.path;
  for (const auto& [k, v] : request.params) out += " param:" + k + "=" + v;
  for (const auto& [k, v] : request.query) out += " query:" + k + "=" + v;
  return out;
}

/// Holds handlers until opened (at most 10 s, so a failing test never
/// hangs) and counts the handlers that reached it.
class Gate {
 public:
  /// Blocks the calling handler until open() (or 10 s).
  void pass() {
    std::unique_lock lock(mutex_);
    ++entered_;
    changed_.notify_all();
    changed_.wait_for(lock, 10s, [&] { return open_; });
  }
  /// Lets every handler through, now and later.
  void open() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    changed_.notify_all();
  }
  /// Waits until `n` handlers reached the gate; false after 5 s.
  bool awaitEntered(int n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 5s, [&] { return entered_ >= n; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int entered_ = 0;
  bool open_ = false;
};

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    settings_.address = "127.0.0.1";
    settings_.port = 0;
    settings_.readTimeout = 600ms;
    settings_.writeTimeout = 2s;
    settings_.lingerTimeout = 500ms;
  }

  void startServer() {
    std::vector<Route> routes;
    routes.push_back({"GET", "/items/{id}",
                      [](const HttpRequest& r) {
                        return HttpResponse{200, describe(r), "text/plain", {}};
                      },
                      "test"});
    routes.push_back({"GET", "/items/special",
                      [](const HttpRequest& r) {
                        return HttpResponse{200, "special " + describe(r), "text/plain", {}};
                      },
                      "test"});
    routes.push_back({"DELETE", "/items/{id}",
                      [](const HttpRequest&) {
                        return HttpResponse{204, "", "text/plain", {}};
                      },
                      "test"});
    routes.push_back({"POST", "/echo",
                      [](const HttpRequest& r) {
                        const auto it = r.headers.find("x-test");
                        HttpResponse out{200, r.body, "application/octet-stream", {}};
                        if (it != r.headers.end()) out.headers["X-Seen"] = it->second;
                        return out;
                      },
                      "test"});
    routes.push_back(
        {"GET", "/boom",
         [](const HttpRequest&) -> HttpResponse { throw std::runtime_error("kaboom"); },
         "test-plugin"});
    routes.push_back({"GET", "/slow",
                      [this](const HttpRequest&) {
                        gate_.pass();
                        return HttpResponse{200, "slow done", "text/plain", {}};
                      },
                      "test"});
    routes.push_back(
        {"GET", "/metrics",
         [this](const HttpRequest&) {
           return HttpResponse{200, metrics_.renderText(), "text/plain; version=0.0.4", {}};
         },
         "engine", /*inlineHandler=*/true});
    server_ = std::make_unique<Server>(settings_, std::move(routes), logger_, metrics_);
    server_->start();
  }

  void TearDown() override {
    gate_.open();
    if (server_) server_->stop(2s);
  }

  std::uint16_t port() const { return server_->port(); }

  // Waits until `n` requests wait for a handler thread; false after 5 s.
  bool awaitQueued(std::size_t n) const {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (server_->handlersQueued() < n) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }

  ServerSettings settings_;
  Gate gate_;  // holds GET /slow
  commsvc::testing::CapturingLogger logger_;
  logging::MetricsRegistry metrics_;
  std::unique_ptr<Server> server_;
};

TEST_F(ServerTest, ListensOnAPickedPortAndLogsIt) {
  startServer();
  EXPECT_NE(port(), 0);
  bool logged = false;
  for (const auto& line : logger_.lines()) {
    if (line.find("http server listening") != std::string::npos &&
        line.find("port=" + std::to_string(port())) != std::string::npos) {
      logged = true;
    }
  }
  EXPECT_TRUE(logged);
}

TEST_F(ServerTest, RouteParamsAndDecodedQuery) {
  startServer();
  Client client(port());
  const Response r = client.request("GET", "/items/a%20b?x=1%2B2&y=hello+world&flag&x=3");
  EXPECT_EQ(r.result_int(), 200);
  EXPECT_EQ(r.body(), "GET /items/a%20b param:id=a b query:flag= query:x=3 query:y=hello world");
  EXPECT_EQ(r[bhttp::field::content_type], "text/plain");
  const Response special = client.request("GET", "/items/special");
  EXPECT_EQ(special.body(), "special GET /items/special");
}

TEST_F(ServerTest, NotFoundAndMethodNotAllowed) {
  startServer();
  Client client(port());
  Response r = client.request("GET", "/nothing/here");
  EXPECT_EQ(r.result_int(), 404);
  EXPECT_EQ(r.body(), R"({"message":"Not found"})");
  EXPECT_EQ(r[bhttp::field::content_type], "application/json");
  r = client.request("GET", "/items/1/extra");  // exact segment count
  EXPECT_EQ(r.result_int(), 404);
  r = client.request("PUT", "/items/7");
  EXPECT_EQ(r.result_int(), 405);
  EXPECT_EQ(r.body(), R"({"message":"Method not allowed"})");
  EXPECT_EQ(r[bhttp::field::allow], "DELETE, GET");
  r = client.request("DELETE", "/items/7");
  EXPECT_EQ(r.result_int(), 204);
}

TEST_F(ServerTest, HandlerExceptionIs500AndServerKeepsServing) {
  startServer();
  Client client(port());
  Response r = client.request("GET", "/boom");
  EXPECT_EQ(r.result_int(), 500);
  EXPECT_EQ(r.body(), R"({"message":"Internal server error"})");
  // Same connection still usable, and a new one too.
  EXPECT_EQ(client.request("GET", "/items/1").result_int(), 200);
  Client other(port());
  EXPECT_EQ(other.request("GET", "/items/2").result_int(), 200);
  bool logged = false;
  for (const auto& line : logger_.lines()) {
    if (line.find("http handler threw") != std::string::npos &&
        line.find("route=/boom") != std::string::npos && line.find("kaboom") != std::string::npos) {
      logged = true;
    }
  }
  EXPECT_TRUE(logged);
}

TEST_F(ServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  startServer();
  Client client(port());
  Response first = client.request("POST", "/echo", "one");
  EXPECT_EQ(first.body(), "one");
  EXPECT_TRUE(first.keep_alive());
  Response second = client.request("POST", "/echo", "two");
  EXPECT_EQ(second.body(), "two");
  // Pipelined: two requests in one write, two responses in order.
  ASSERT_FALSE(
      client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nX-Test: a\r\n\r\nA"
                  "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nB"));
  Response a, b;
  ASSERT_FALSE(client.read(a));
  ASSERT_FALSE(client.read(b));
  EXPECT_EQ(a.body(), "A");
  EXPECT_EQ(a["X-Seen"], "a");
  EXPECT_EQ(b.body(), "B");
  // Connection: close is honoured.
  Response last = client.request("POST", "/echo", "bye", /*close=*/true);
  EXPECT_EQ(last.body(), "bye");
  EXPECT_TRUE(client.waitClosed(2s));
}

TEST_F(ServerTest, BodyOverTheLimitIs413AndServerKeepsServing) {
  settings_.readTimeout = 5s;
  startServer();
  Client client(port());
  const std::string body(10 * 1024 * 1024, 'x');
  ASSERT_FALSE(client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n"));
  client.send(body);  // may fail once the server stops reading: fine
  Response r;
  ASSERT_FALSE(client.read(r));
  EXPECT_EQ(r.result_int(), 413);
  EXPECT_EQ(r.body(), R"({"message":"Request body too large"})");
  EXPECT_FALSE(r.keep_alive());
  EXPECT_TRUE(client.waitClosed(3s));

  // A body exactly at the limit still passes.
  Client other(port());
  const Response ok = other.request("POST", "/echo", std::string(1024 * 1024, 'y'));
  EXPECT_EQ(ok.result_int(), 200);
  EXPECT_EQ(ok.body().size(), 1024u * 1024u);
}

TEST_F(ServerTest, ChunkedBodyOverTheLimitIs413) {
  settings_.bodyLimit = 1000;
  startServer();
  Client client(port());
  std::string request = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 5; ++i) request += "12c\r\n" + std::string(300, 'z') + "\r\n";
  request += "0\r\n\r\n";
  client.send(request);
  Response r;
  ASSERT_FALSE(client.read(r));
  EXPECT_EQ(r.result_int(), 413);
  Client other(port());
  EXPECT_EQ(other.request("GET", "/items/1").result_int(), 200);
}

TEST_F(ServerTest, SlowClientIsCutOffAndDoesNotBlockOthers) {
  settings_.threads = 1;  // even with one I/O thread
  settings_.readTimeout = 800ms;
  startServer();
  Client slow(port());
  const auto connected = std::chrono::steady_clock::now();
  const std::string head = "GET /items/1 HTTP/1.1\r\nHost: x\r\n\r\n";
  for (int i = 0; i < 4; ++i) {
    ASSERT_FALSE(slow.send(head.substr(i, 1)));
    const auto before = std::chrono::steady_clock::now();
    Client fast(port());
    EXPECT_EQ(fast.request("GET", "/items/2").result_int(), 200);
    EXPECT_LT(std::chrono::steady_clock::now() - before, 300ms);
    std::this_thread::sleep_for(100ms);
  }
  // Still dribbling: the deadline covers the whole request, not each byte.
  EXPECT_TRUE(slow.waitClosed(3s));
  const auto cutAfter = std::chrono::steady_clock::now() - connected;
  EXPECT_GE(cutAfter, 700ms);
  EXPECT_LT(cutAfter, 2s);
  Client after(port());
  EXPECT_EQ(after.request("GET", "/items/3").result_int(), 200);
}

TEST_F(ServerTest, IdleKeepAliveConnectionIsClosedAfterTheReadTimeout) {
  startServer();
  Client client(port());
  EXPECT_EQ(client.request("GET", "/items/1").result_int(), 200);
  EXPECT_TRUE(client.waitClosed(3s));
}

TEST_F(ServerTest, GarbageIsAnswered400AndClosed) {
  startServer();
  {
    Client client(port());
    static const char kTlsHello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 garbage\r\n\r\n";
    ASSERT_FALSE(client.send(std::string(kTlsHello, sizeof kTlsHello - 1)));
    Response r;
    ASSERT_FALSE(client.read(r));
    EXPECT_EQ(r.result_int(), 400);
    EXPECT_EQ(r.body(), R"({"message":"Bad request"})");
    EXPECT_TRUE(client.waitClosed(2s));
  }
  {
    Client client(port());
    ASSERT_FALSE(client.send("GET /items/1 HTTP/9.9\r\nHost: x\r\n\r\n"));
    Response r;
    ASSERT_FALSE(client.read(r));
    EXPECT_EQ(r.result_int(), 400);
  }
  {
    Client client(port());
    ASSERT_FALSE(client.send("POST /echo HTTP/1.1\r\nContent-Length: abc\r\n\r\n"));
    Response r;
    ASSERT_FALSE(client.read(r));
    EXPECT_EQ(r.result_int(), 400);
  }
  {
    Client client(port());  // connects and closes without a byte
  }
  Client client(port());
  EXPECT_EQ(client.request("GET", "/items/1").result_int(), 200);
}

TEST_F(ServerTest, HeaderOverTheLimitIs431) {
  settings_.headerLimit = 1024;
  startServer();
  Client client(port());
  ASSERT_FALSE(
      client.send("GET /items/1 HTTP/1.1\r\nX-Big: " + std::string(4000, 'h') + "\r\n\r\n"));
  Response r;
  ASSERT_FALSE(client.read(r));
  EXPECT_EQ(r.result_int(), 431);
}

// Every sample line: name{labels} value  or  name value.
void expectPrometheusText(const std::string& text) {
  static const std::regex sample(
      R"(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? [-+0-9.eEInfa]+( -?[0-9]+)?$)");
  std::istringstream in(text);
  std::string line;
  int samples = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    EXPECT_TRUE(std::regex_match(line, sample)) << line;
    ++samples;
  }
  EXPECT_GT(samples, 0);
}

double sampleValue(const std::string& text, const std::string& prefix, const std::string& needle) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0 && line.find(needle) != std::string::npos) {
      return std::stod(line.substr(line.rfind(' ') + 1));
    }
  }
  return 0;
}

TEST_F(ServerTest, MetricsCountRequestsByRoutePatternAndParseAsPrometheusText) {
  startServer();
  Client client(port());
  client.request("GET", "/items/1");
  client.request("GET", "/items/2");
  client.request("GET", "/no/such/thing");
  const Response first = client.request("GET", "/metrics");
  EXPECT_EQ(first[bhttp::field::content_type], "text/plain; version=0.0.4");
  expectPrometheusText(first.body());
  const std::string routeLabel = "route=\"/items/{id}\"";
  const double before = sampleValue(first.body(), "http_requests_total{", routeLabel);
  EXPECT_EQ(before, 2);
  EXPECT_EQ(sampleValue(first.body(), "http_requests_total{", "route=\"unmatched\",status=\"404\""),
            1);
  EXPECT_GE(sampleValue(first.body(), "http_request_duration_seconds_count{", routeLabel), 2);
  EXPECT_EQ(first.body().find("/items/1"), std::string::npos);  // raw paths never labels

  client.request("GET", "/items/3");
  const Response second = client.request("GET", "/metrics");
  expectPrometheusText(second.body());
  EXPECT_EQ(sampleValue(second.body(), "http_requests_total{", routeLabel), before + 1);
}

TEST_F(ServerTest, StopFinishesTheRequestInProgressAndRefusesNewConnections) {
  std::vector<Route> routes;
  routes.push_back({"GET", "/slow",
                    [](const HttpRequest&) {
                      std::this_thread::sleep_for(300ms);
                      return HttpResponse{200, "done", "text/plain", {}};
                    },
                    "test"});
  server_ = std::make_unique<Server>(settings_, std::move(routes), logger_, metrics_);
  server_->start();
  Client idle(port());
  Client busy(port());
  ASSERT_FALSE(busy.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::this_thread::sleep_for(100ms);
  bool stopped = false;
  std::thread stopper([&] { stopped = server_->stop(3s); });
  Response r;
  const auto readError = busy.read(r);
  if (readError) stopper.join();
  ASSERT_FALSE(readError) << readError.message();
  EXPECT_EQ(r.result_int(), 200);
  EXPECT_EQ(r.body(), "done");
  EXPECT_FALSE(r.keep_alive());
  EXPECT_TRUE(idle.waitClosed(2s));
  stopper.join();
  EXPECT_TRUE(stopped);
  EXPECT_THROW(Client{port()}, std::runtime_error);
}

TEST_F(ServerTest, SlowHandlerDoesNotBlockOtherRoutes) {
  settings_.threads = 1;  // one I/O thread: it must never run a handler
  startServer();
  Client slow(port());
  ASSERT_FALSE(slow.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(gate_.awaitEntered(1));
  // The slow handler holds its thread; other routes and connections go on.
  Client fast(port());
  Response r;
  ASSERT_NO_THROW(r = fast.request("GET", "/items/2")) << "blocked behind the slow handler";
  EXPECT_EQ(r.result_int(), 200);
  ASSERT_NO_THROW(r = fast.request("GET", "/metrics"));
  EXPECT_EQ(r.result_int(), 200);
  gate_.open();
  Response done;  // a fresh one: read() appends to a response's body
  ASSERT_FALSE(slow.read(done));
  EXPECT_EQ(done.result_int(), 200);
  EXPECT_EQ(done.body(), "slow done");
}

TEST_F(ServerTest, FullHandlerPoolAnswers503WithRetryAfterAndCountsIt) {
  settings_.handlerThreads = 1;
  settings_.handlerQueue = 1;
  startServer();
  Client running(port());
  ASSERT_FALSE(running.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(gate_.awaitEntered(1));
  Client queued(port());
  ASSERT_FALSE(queued.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(awaitQueued(1));

  Client refused(port());
  Response r;
  ASSERT_NO_THROW(r = refused.request("GET", "/items/3"));
  EXPECT_EQ(r.result_int(), 503);
  EXPECT_EQ(r[bhttp::field::retry_after], "1");
  EXPECT_EQ(r[bhttp::field::content_type], "application/json");
  EXPECT_EQ(r.body().rfind(R"({"message":")", 0), 0u) << r.body();
  // Inline routes are never refused; the refusal is counted.
  const Response metrics = refused.request("GET", "/metrics");
  EXPECT_EQ(metrics.result_int(), 200);
  EXPECT_EQ(sampleValue(metrics.body(), "http_requests_rejected_total{", "route=\"/items/{id}\""),
            1)
      << metrics.body();
  EXPECT_EQ(sampleValue(metrics.body(), "http_requests_total{", "status=\"503\""), 1);

  gate_.open();
  Response first, second;  // fresh ones: read() appends to a response's body
  ASSERT_FALSE(running.read(first));
  EXPECT_EQ(first.result_int(), 200);
  ASSERT_FALSE(queued.read(second));
  EXPECT_EQ(second.result_int(), 200);
  EXPECT_EQ(second.body(), "slow done");
  // The refused connection was kept alive and is served now.
  EXPECT_EQ(refused.request("GET", "/items/3").result_int(), 200);
}

TEST_F(ServerTest, StopFinishesQueuedHandlersWithinTheBound) {
  settings_.handlerThreads = 1;
  settings_.handlerQueue = 4;
  startServer();
  Client first(port());
  ASSERT_FALSE(first.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(gate_.awaitEntered(1));
  Client second(port());
  ASSERT_FALSE(second.send("GET /items/9 HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(awaitQueued(1));
  bool stopped = false;
  std::thread stopper([&] { stopped = server_->stop(5s); });
  std::this_thread::sleep_for(200ms);
  gate_.open();
  Response a, b;
  ASSERT_FALSE(first.read(a));
  ASSERT_FALSE(second.read(b));
  stopper.join();
  EXPECT_EQ(a.result_int(), 200);
  EXPECT_EQ(b.result_int(), 200);
  EXPECT_EQ(b.body(), "GET /items/9 param:id=9");
  EXPECT_FALSE(b.keep_alive());
  EXPECT_TRUE(stopped);
  EXPECT_EQ(server_->handlersRunning(), 0u);
}

TEST_F(ServerTest, StopReturnsAtItsBoundWhenAHandlerHangs) {
  settings_.handlerThreads = 1;
  startServer();
  Client hung(port());
  ASSERT_FALSE(hung.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(gate_.awaitEntered(1));
  const auto before = std::chrono::steady_clock::now();
  EXPECT_FALSE(server_->stop(300ms));
  EXPECT_LT(std::chrono::steady_clock::now() - before, 3s);
  EXPECT_EQ(server_->handlersRunning(), 1u);
  gate_.open();
  server_.reset();  // waits for the handler
}

TEST_F(ServerTest, ServingProblemWhenEveryHandlerThreadIsStuck) {
  settings_.handlerThreads = 1;
  settings_.stallAfter = 300ms;
  startServer();
  EXPECT_EQ(server_->servingProblem(), "");
  Client hung(port());
  ASSERT_FALSE(hung.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(gate_.awaitEntered(1));
  EXPECT_EQ(server_->servingProblem(), "");  // busy, not yet stalled
  std::this_thread::sleep_for(500ms);
  EXPECT_NE(server_->servingProblem().find("every handler thread busy"), std::string::npos)
      << server_->servingProblem();
  gate_.open();
  Response r;
  ASSERT_FALSE(hung.read(r));
  // The handler thread records its progress just after the response left
  // it, so the client may read the answer a moment before that.
  const auto until = std::chrono::steady_clock::now() + 2s;
  while (!server_->servingProblem().empty() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(server_->servingProblem(), "");
  server_->stop(1s);
  EXPECT_EQ(server_->servingProblem(), "stopping");
}

TEST_F(ServerTest, BadAddressIsAStartError) {
  settings_.address = "not-an-address";
  EXPECT_THROW(startServer(), std::runtime_error);
  server_.reset();
}

// A reload swaps the routes: new requests see the new set, a request already
// running finishes on its old handler, whose captures live until then.
TEST_F(ServerTest, SwappedRoutesServeNewRequestsWhileOldOnesFinish) {
  startServer();
  auto owner = std::make_shared<int>(7);  // what an old handler captured (a plugin)
  std::weak_ptr<int> watched = owner;
  std::vector<Route> first;
  first.push_back({"GET", "/held",
                   [this, owner](const HttpRequest&) {
                     gate_.pass();
                     return HttpResponse{200, "held " + std::to_string(*owner), "text/plain", {}};
                   },
                   "test"});
  server_->setRoutes(std::move(first));
  owner.reset();
  Client held(port());
  ASSERT_FALSE(held.send("GET /held HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(gate_.awaitEntered(1));
  std::vector<Route> next;
  next.push_back({"GET", "/fresh",
                  [](const HttpRequest&) {
                    return HttpResponse{200, "fresh", "text/plain", {}};
                  },
                  "test"});
  server_->setRoutes(std::move(next));
  EXPECT_FALSE(watched.expired()) << "the running request's handler was destroyed";
  Client fresh(port());
  Response r = fresh.request("GET", "/fresh");
  EXPECT_EQ(r.result_int(), 200);
  EXPECT_EQ(r.body(), "fresh");
  r = fresh.request("GET", "/held");
  EXPECT_EQ(r.result_int(), 404) << "an old route still served";
  gate_.open();
  Response done;
  ASSERT_FALSE(held.read(done));
  EXPECT_EQ(done.body(), "held 7");
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  while (!watched.expired() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_TRUE(watched.expired()) << "the old routes outlived their last request";
  std::vector<Route> bad;
  bad.push_back({"GET", "no-slash", [](const HttpRequest&) { return HttpResponse{}; }, "test"});
  EXPECT_THROW(server_->setRoutes(std::move(bad)), std::invalid_argument);
  EXPECT_EQ(fresh.request("GET", "/fresh").result_int(), 200)
      << "a refused set replaced the routes";
}

}  // namespace
}  // namespace commsvc::http
