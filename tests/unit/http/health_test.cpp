#include "http/health.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "../../support/fake_logging.hpp"
#include "../../support/postgres.hpp"
#include "database/pool.hpp"
#include "http/server.hpp"
#include "logging/metrics_registry.hpp"
#include "test_client.hpp"

namespace commsvc::http {
namespace {

using namespace std::chrono_literals;

TEST(HealthTest, HealthyWhenEveryProbeIs) {
  const auto handler =
      makeHealthHandler("communication-service", {{"database",
                                                   [] {
                                                     return ComponentHealth{true, "disabled"};
                                                   }},
                                                  {"kafka", [] {
                                                     return ComponentHealth{true, "ok"};
                                                   }}});
  const auto r = handler(HttpRequest{});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(
      r.body,
      R"({"status":"healthy","service":"communication-service","database":"disabled","kafka":"ok"})");
}

TEST(HealthTest, UnhealthyWithTheFailingPartsText) {
  const auto handler = makeHealthHandler(
      "svc", {{"database",
               [] {
                 return ComponentHealth{false, "connection \"refused\""};
               }},
              {"kafka", []() -> ComponentHealth { throw std::runtime_error("probe broke"); }}});
  const auto r = handler(HttpRequest{});
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(
      r.body,
      R"({"status":"unhealthy","service":"svc","database":"connection \"refused\"","kafka":"probe broke"})");
}

TEST(HealthTest, ProbeBrokersConnectsOverTcp) {
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

TEST(HealthTest, HealthRouteFollowsARealPostgres) {
  commsvc::testing::TemporaryPostgres postgres;
  database::PoolSettings poolSettings;
  poolSettings.url = postgres.url();
  poolSettings.size = 2;
  poolSettings.connectTimeout = 2s;
  poolSettings.acquireTimeout = 2000ms;
  poolSettings.maxAttempts = 1;
  database::ConnectionPool pool(poolSettings);

  commsvc::testing::CapturingLogger logger;
  logging::MetricsRegistry metrics;
  ServerSettings settings;
  settings.address = "127.0.0.1";
  settings.port = 0;
  std::vector<Route> routes;
  routes.push_back(
      {"GET", "/health",
       makeHealthHandler("communication-service", {{"database",
                                                    [&pool] {
                                                      std::string error;
                                                      if (pool.ping(&error))
                                                        return ComponentHealth{true, "ok"};
                                                      return ComponentHealth{false, error};
                                                    }}}),
       "engine"});
  Server server(settings, std::move(routes), logger, metrics);
  server.start();

  testing::Client client(server.port());
  auto r = client.request("GET", "/health");
  EXPECT_EQ(r.result_int(), 200);
  EXPECT_EQ(r.body(), R"({"status":"healthy","service":"communication-service","database":"ok"})");

  postgres.stop();
  r = client.request("GET", "/health");
  EXPECT_EQ(r.result_int(), 503);
  EXPECT_NE(r.body().find(R"("status":"unhealthy")"), std::string::npos) << r.body();
  EXPECT_EQ(r.body().find(R"("database":"ok")"), std::string::npos) << r.body();

  postgres.start();
  r = client.request("GET", "/health");
  EXPECT_EQ(r.result_int(), 200) << r.body();
  server.stop();
}

}  // namespace
}  // namespace commsvc::http
