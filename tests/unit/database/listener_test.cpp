#include "database/listener.hpp"

#include <atomic>
#include <thread>

#include "../../support/fake_logging.hpp"
#include "database_fixture.hpp"

namespace commsvc::database {
namespace {

using namespace std::chrono_literals;

class ListenerTest : public DatabaseTest {
 protected:
  // Waits until `counter` reaches at least `n`, at most 5 s.
  static bool reaches(const std::atomic<int>& counter, int n) {
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (counter.load() < n && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(5ms);
    }
    return counter.load() >= n;
  }
  void notify(ConnectionPool& pool, const std::string& sql) {
    pool.transaction([&](pqxx::work& tx) { tx.exec(sql); });
  }
  testing::CapturingLogger logger_;
};

TEST_F(ListenerTest, CallsTheSubscribersOfAChannelWhenANotifyingTransactionCommits) {
  ConnectionPool pool(settings());
  Listener listener(server().url(), logger_);
  std::atomic<int> a{0}, b{0};
  listener.subscribe("chan_a", [&] { ++a; });
  listener.subscribe("chan_b", [&] { ++b; });
  ASSERT_TRUE(reaches(a, 1)) << "every callback once after connecting";
  ASSERT_TRUE(reaches(b, 1));

  notify(pool, "NOTIFY chan_a");
  EXPECT_TRUE(reaches(a, 2));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(b.load(), 1) << "only the channel's own subscribers";

  // Not before the commit: a rolled-back NOTIFY is never delivered.
  try {
    pool.transaction([&](pqxx::work& tx) {
      tx.exec("NOTIFY chan_b");
      throw std::runtime_error("roll back");
    });
  } catch (const std::runtime_error&) {
  }
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(b.load(), 1);
}

TEST_F(ListenerTest, AnUnsubscribedCallbackIsNeverCalledAgain) {
  ConnectionPool pool(settings());
  Listener listener(server().url(), logger_);
  std::atomic<int> calls{0};
  const auto id = listener.subscribe("chan_c", [&] { ++calls; });
  ASSERT_TRUE(reaches(calls, 1));
  listener.unsubscribe(id);
  notify(pool, "NOTIFY chan_c");
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(ListenerTest, ReconnectsAfterARestartAndCallsEveryoneOnce) {
  ConnectionPool pool(settings());
  Listener listener(withConnectTimeout(server().url(), std::chrono::seconds(2)), logger_);
  std::atomic<int> calls{0};
  listener.subscribe("chan_d", [&] { ++calls; });
  ASSERT_TRUE(reaches(calls, 1));
  server().stop();
  std::this_thread::sleep_for(500ms);
  server().start();
  ASSERT_TRUE(reaches(calls, 2)) << "a reconnect counts as a notification (some may be lost)";
  const int before = calls.load();
  notify(pool, "NOTIFY chan_d");
  EXPECT_TRUE(reaches(calls, before + 1)) << "listening again after the reconnect";
}

TEST_F(ListenerTest, RefusesChannelNamesThatAreNotPlainIdentifiers) {
  Listener listener(server().url(), logger_);
  EXPECT_THROW(listener.subscribe("Chan", [] {}), std::invalid_argument);
  EXPECT_THROW(listener.subscribe("a;DROP TABLE x", [] {}), std::invalid_argument);
  EXPECT_THROW(listener.subscribe("", [] {}), std::invalid_argument);
}

}  // namespace
}  // namespace commsvc::database
