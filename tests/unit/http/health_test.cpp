#include "http/health.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "../../support/fake_logging.hpp"
#include "../../support/postgres.hpp"
#include "database/pool.hpp"
#include "http/server.hpp"
#include "logging/metrics_registry.hpp"
#include "test_client.hpp"

namespace commsvc::http {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return condition();
}

/// True once every check of `monitor` was probed at least once.
bool allProbed(const HealthMonitor& monitor) {
  for (const auto& state : monitor.snapshot()) {
    if (state.state.rfind("unknown", 0) == 0) return false;
  }
  return true;
}

class HealthTest : public ::testing::Test {
 protected:
  commsvc::testing::CapturingLogger logger_;
  logging::MetricsRegistry metrics_;
};

TEST_F(HealthTest, LivezAnswersWithoutCheckingAnything) {
  const auto r = makeLivezHandler()(HttpRequest{});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"status":"alive"})");
}

TEST_F(HealthTest, ReadyzAndHealthReportEachDependencyChannelsGrouped) {
  HealthMonitor monitor({{"database",
                          [] {
                            return ComponentHealth{true, "ok"};
                          }},
                         {"kafka",
                          [] {
                            return ComponentHealth{false, "down: refused"};
                          }},
                         {"smtp",
                          [] {
                            return ComponentHealth{true, "ok"};
                          },
                          "channels"},
                         {"log",
                          [] {
                            return ComponentHealth{true, "ok"};
                          },
                          "channels"}},
                        logger_, metrics_);
  // Before the first probe nothing is known: not ready, yet healthy.
  auto ready = makeReadyzHandler(monitor)(HttpRequest{});
  EXPECT_EQ(ready.status, 503);
  EXPECT_NE(ready.body.find(R"("database":"unknown)"), std::string::npos) << ready.body;

  monitor.start();
  ASSERT_TRUE(eventually([&] { return allProbed(monitor); }, 3s));
  ready = makeReadyzHandler(monitor)(HttpRequest{});
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(
      ready.body,
      R"({"status":"not ready","database":"ok","kafka":"down: refused","channels":{"smtp":"ok","log":"ok"}})");

  // Kafka down does not make /health fail: only a serving problem does.
  std::string problem;
  const auto health = makeHealthHandler("communication-service", monitor, [&] { return problem; });
  auto h = health(HttpRequest{});
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(
      h.body,
      R"({"status":"healthy","service":"communication-service","database":"ok","kafka":"down: refused","channels":{"smtp":"ok","log":"ok"}})");
  problem = "stopping";
  h = health(HttpRequest{});
  EXPECT_EQ(h.status, 503);
  EXPECT_NE(
      h.body.find(R"("status":"unhealthy","service":"communication-service","problem":"stopping")"),
      std::string::npos)
      << h.body;

  const std::string text = metrics_.renderText();
  EXPECT_NE(text.find(R"(dependency_up{dependency="kafka"} 0)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(dependency_up{dependency="database"} 1)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(dependency_up{dependency="channel:smtp"} 1)"), std::string::npos) << text;
  monitor.stop();
}

TEST_F(HealthTest, ReadyWhenEveryDependencyIsAndProbesRunAtMostOncePerInterval) {
  std::atomic<int> calls{0};
  HealthMonitor monitor({{"database",
                          [&] {
                            ++calls;
                            return ComponentHealth{true, "ok"};
                          }},
                         {"kafka", []() -> ComponentHealth { throw std::runtime_error("boom"); }}},
                        logger_, metrics_, {.interval = 500ms});
  monitor.start();
  ASSERT_TRUE(eventually([&] { return allProbed(monitor); }, 3s));
  const auto r = makeReadyzHandler(monitor)(HttpRequest{});
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, R"({"status":"not ready","database":"ok","kafka":"down: boom"})");
  std::this_thread::sleep_for(1200ms);
  monitor.stop();
  EXPECT_GE(calls.load(), 2);
  EXPECT_LE(calls.load(), 4);  // ~1.2 s / 500 ms + the first
  bool logged = false;
  for (const auto& line : logger_.lines()) {
    logged = logged || line.find("dependency not ready dependency=kafka") != std::string::npos;
  }
  EXPECT_TRUE(logged) << "state changes are logged";
}

TEST_F(HealthTest, AStuckProbeNeverBlocksTheRequestAndReportsNotReady) {
  std::mutex mutex;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> calls{0};
  HealthMonitor monitor({{"database",
                          [&] {
                            if (++calls > 1) {  // every probe after the first hangs
                              std::unique_lock lock(mutex);
                              cv.wait_for(lock, 10s, [&] { return release; });
                            }
                            return ComponentHealth{true, "ok"};
                          }},
                         {"kafka",
                          [] {
                            return ComponentHealth{true, "ok"};
                          }}},
                        logger_, metrics_, {.interval = 100ms, .stalledAfter = 300ms});
  monitor.start();
  const auto handler = makeReadyzHandler(monitor);
  ASSERT_TRUE(eventually([&] { return handler(HttpRequest{}).status == 200; }, 3s));
  // The probe is stuck now; requests still answer at once, soon "not ready".
  ASSERT_TRUE(eventually([&] { return handler(HttpRequest{}).status == 503; }, 3s));
  const auto before = Clock::now();
  const auto r = handler(HttpRequest{});
  EXPECT_LT(Clock::now() - before, 1s);
  EXPECT_NE(r.body.find(R"("database":"down: no answer for)"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("kafka":"ok")"), std::string::npos) << r.body;
  {
    std::lock_guard lock(mutex);
    release = true;
  }
  cv.notify_all();
  monitor.stop();
}

TEST_F(HealthTest, ReadyGaugeIsOneExactlyWhileReadyzAnswers200) {
  std::atomic<bool> kafkaUp{true};
  HealthMonitor monitor({{"database",
                          [] {
                            return ComponentHealth{true, "ok"};
                          }},
                         {"kafka",
                          [&] {
                            return kafkaUp.load() ? ComponentHealth{true, "ok"}
                                                  : ComponentHealth{false, "down: refused"};
                          }}},
                        logger_, metrics_, {.interval = 50ms});
  const auto readyz = makeReadyzHandler(monitor);
  const auto gauge = [&] { return metrics_.snapshot().at("ready"); };
  EXPECT_EQ(gauge(), 0) << "nothing probed yet";
  EXPECT_EQ(readyz(HttpRequest{}).status, 503);

  monitor.start();
  ASSERT_TRUE(eventually([&] { return gauge() == 1; }, 3s));
  EXPECT_EQ(readyz(HttpRequest{}).status, 200);
  kafkaUp.store(false);
  ASSERT_TRUE(eventually([&] { return gauge() == 0; }, 3s));
  EXPECT_EQ(readyz(HttpRequest{}).status, 503);
  kafkaUp.store(true);
  ASSERT_TRUE(eventually([&] { return gauge() == 1; }, 3s));
  EXPECT_EQ(readyz(HttpRequest{}).status, 200);
  const std::string text = metrics_.renderText();
  EXPECT_NE(text.find("\nready 1\n"), std::string::npos) << text;

  monitor.stop();  // stopping: /readyz is about to go away
  EXPECT_EQ(gauge(), 0);
}

// A reload replaces the channel and publisher checks: kept ones keep their
// state (no "unknown" gap, still ready), new ones are probed, old ones end.
TEST_F(HealthTest, SetChecksKeepsTheStateOfKeptChecksAndProbesNewOnes) {
  std::atomic<int> oldProbes{0};
  HealthMonitor monitor({{"database",
                          [] {
                            return ComponentHealth{true, "ok"};
                          }},
                         {"smtp",
                          [&] {
                            ++oldProbes;
                            return ComponentHealth{true, "ok"};
                          },
                          "channels"}},
                        logger_, metrics_, {.interval = 50ms});
  monitor.start();
  ASSERT_TRUE(eventually([&] { return allProbed(monitor); }, 3s));
  std::atomic<bool> releaseNew{false};
  monitor.setChecks({{"database",
                      [] {
                        return ComponentHealth{true, "ok"};
                      }},
                     {"mock",
                      [&] {
                        while (!releaseNew.load()) std::this_thread::sleep_for(5ms);
                        return ComponentHealth{false, "down: not ready"};
                      },
                      "channels"}});
  const int probesAtSwap = oldProbes.load();
  auto states = monitor.snapshot();
  ASSERT_EQ(states.size(), 2u);
  EXPECT_EQ(states[0].state, "ok") << "a kept check lost its state";
  EXPECT_EQ(states[1].name, "mock");
  EXPECT_EQ(states[1].state, "unknown: not checked yet");
  releaseNew.store(true);
  ASSERT_TRUE(eventually([&] { return monitor.snapshot()[1].state == "down: not ready"; }, 3s));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(oldProbes.load(), probesAtSwap) << "a replaced check is still probed";
  EXPECT_EQ(makeReadyzHandler(monitor)(HttpRequest{}).status, 503);
  monitor.stop();
}

TEST_F(HealthTest, ReadyGaugeWithoutChecksIsOne) {
  HealthMonitor monitor({}, logger_, metrics_);
  EXPECT_EQ(metrics_.snapshot().at("ready"), 1);
  EXPECT_EQ(makeReadyzHandler(monitor)(HttpRequest{}).status, 200);
}

TEST_F(HealthTest, AStalledProbeDropsTheGaugesWithoutAnyRequest) {
  std::mutex mutex;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> calls{0};
  HealthMonitor monitor({{"database",
                          [&] {
                            if (++calls > 1) {  // every probe after the first hangs
                              std::unique_lock lock(mutex);
                              cv.wait_for(lock, 10s, [&] { return release; });
                            }
                            return ComponentHealth{true, "ok"};
                          }}},
                        logger_, metrics_, {.interval = 100ms, .stalledAfter = 300ms});
  monitor.start();
  // Only the metrics are read: nothing calls snapshot() or /readyz.
  const auto value = [&](const std::string& series) { return metrics_.snapshot().at(series); };
  ASSERT_TRUE(eventually([&] { return calls.load() > 1; }, 3s));
  EXPECT_TRUE(eventually(
      [&] { return value("ready") == 0 && value(R"(dependency_up{dependency="database"})") == 0; },
      3s))
      << value("ready");
  {
    std::lock_guard lock(mutex);
    release = true;
  }
  cv.notify_all();
  monitor.stop();
}

TEST_F(HealthTest, ProbeBrokersConnectsOverTcp) {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor acceptor(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const auto port = std::to_string(acceptor.local_endpoint().port());
  EXPECT_TRUE(probeBrokers("127.0.0.1:" + port, 1s).healthy);
  EXPECT_TRUE(probeBrokers("PLAINTEXT://127.0.0.1:" + port, 1s).healthy);
  EXPECT_EQ(probeBrokers("127.0.0.1:1,127.0.0.1:" + port, 1s).state, "ok");
  acceptor.close();
  const auto down = probeBrokers("127.0.0.1:" + port, 1s);
  EXPECT_FALSE(down.healthy);
  EXPECT_NE(down.state.find("broker unreachable"), std::string::npos) << down.state;
  EXPECT_FALSE(probeBrokers("", 1s).healthy);
}

// Over a real server and PostgreSQL: /readyz follows the database within
// ~2 s, /health and /livez stay 200 through the outage.
TEST_F(HealthTest, HealthRoutesFollowARealPostgres) {
  commsvc::testing::TemporaryPostgres postgres;
  database::PoolSettings poolSettings;
  poolSettings.url = postgres.url();
  poolSettings.size = 1;
  poolSettings.connectTimeout = 2s;
  poolSettings.acquireTimeout = 2000ms;
  poolSettings.maxAttempts = 2;
  poolSettings.retryBackoff = 50ms;
  database::ConnectionPool pool(poolSettings);
  HealthMonitor monitor({{"database",
                          [&pool] {
                            std::string error;
                            if (pool.ping(&error)) return ComponentHealth{true, "ok"};
                            return ComponentHealth{false, "down: " + error};
                          }}},
                        logger_, metrics_);

  ServerSettings settings;
  settings.address = "127.0.0.1";
  settings.port = 0;
  std::vector<Route> routes;
  routes.push_back({"GET", "/livez", makeLivezHandler(), "engine", true});
  routes.push_back({"GET", "/readyz", makeReadyzHandler(monitor), "engine", true});
  routes.push_back({"GET", "/health",
                    makeHealthHandler("communication-service", monitor, [] { return ""; }),
                    "engine", true});
  Server server(settings, std::move(routes), logger_, metrics_);
  server.start();
  monitor.start();

  testing::Client client(server.port());
  ASSERT_TRUE(eventually([&] { return client.request("GET", "/readyz").result_int() == 200; }, 5s));
  auto r = client.request("GET", "/health");
  EXPECT_EQ(r.result_int(), 200);
  EXPECT_EQ(r.body(), R"({"status":"healthy","service":"communication-service","database":"ok"})");

  postgres.stop();
  const auto stopped = Clock::now();
  ASSERT_TRUE(eventually([&] { return client.request("GET", "/readyz").result_int() == 503; }, 5s));
  EXPECT_LT(Clock::now() - stopped, 3s) << "readiness follows the database within ~2 s";
  r = client.request("GET", "/readyz");
  EXPECT_NE(r.body().find(R"("status":"not ready","database":"down)"), std::string::npos)
      << r.body();
  r = client.request("GET", "/health");
  EXPECT_EQ(r.result_int(), 200) << "a database outage must not fail the container check";
  EXPECT_NE(r.body().find(R"("status":"healthy")"), std::string::npos) << r.body();
  EXPECT_NE(r.body().find(R"("database":"down)"), std::string::npos) << r.body();
  EXPECT_EQ(client.request("GET", "/livez").result_int(), 200);

  postgres.start();
  EXPECT_TRUE(eventually([&] { return client.request("GET", "/readyz").result_int() == 200; }, 8s));
  monitor.stop();
  server.stop();
}

}  // namespace
}  // namespace commsvc::http
