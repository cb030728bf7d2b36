#include <atomic>
#include <cstdint>
#include <future>
#include <stdexcept>
#include <thread>
#include <vector>

#include "database/broken_connection_fix.hpp"
#include "database_fixture.hpp"

namespace commsvc::database {
namespace {

using namespace std::chrono_literals;

long long count(ConnectionPool& pool, const std::string& sql) {
  long long n = 0;
  pool.transaction([&](pqxx::work& tx) { n = tx.exec1(sql)[0].as<long long>(); });
  return n;
}

TEST(ConnectTimeout, AddedToUrlsAndConninfo) {
  EXPECT_EQ(withConnectTimeout("postgresql://u@h:1/db", 5s),
            "postgresql://u@h:1/db?connect_timeout=5");
  EXPECT_EQ(withConnectTimeout("postgres://h/db?sslmode=disable", 3s),
            "postgres://h/db?sslmode=disable&connect_timeout=3");
  EXPECT_EQ(withConnectTimeout("host=h dbname=db", 7s), "host=h dbname=db connect_timeout=7");
  EXPECT_EQ(withConnectTimeout("postgresql://h/db?connect_timeout=9", 3s),
            "postgresql://h/db?connect_timeout=9");
}

TEST(Lazy, ConstructorNeverConnects) {
  PoolSettings s;
  s.url = "postgresql://postgres@127.0.0.1:1/none";  // nothing listens on port 1
  s.connectTimeout = 1s;
  s.maxAttempts = 2;
  s.retryBackoff = 10ms;
  ConnectionPool pool(s);  // must not throw
  EXPECT_EQ(pool.openConnections(), 0u);
  std::string error;
  EXPECT_FALSE(pool.ping(&error));
  EXPECT_FALSE(error.empty());
  EXPECT_THROW(pool.transaction([](pqxx::work&) {}), pqxx::broken_connection);
}

TEST_F(DatabaseTest, CommitsAndRollsBackOnException) {
  ConnectionPool pool(settings());
  EXPECT_EQ(pool.openConnections(), 0u);
  EXPECT_TRUE(pool.ping());
  pool.transaction([](pqxx::work& tx) { tx.exec("CREATE TABLE t_commit (v int)"); });
  pool.transaction([](pqxx::work& tx) { tx.exec_params("INSERT INTO t_commit VALUES ($1)", 1); });
  EXPECT_THROW(pool.transaction([](pqxx::work& tx) {
    tx.exec_params("INSERT INTO t_commit VALUES ($1)", 2);
    throw std::logic_error("handler failed");
  }),
               std::logic_error);
  EXPECT_THROW(pool.transaction([](pqxx::work& tx) {
    tx.exec_params("INSERT INTO t_commit VALUES ($1)", 3);
    tx.exec("SELECT * FROM no_such_table");
  }),
               pqxx::sql_error);
  EXPECT_EQ(count(pool, "SELECT count(*) FROM t_commit"), 1);
  EXPECT_EQ(count(pool, "SELECT max(v) FROM t_commit"), 1);
  EXPECT_EQ(pool.openConnections(), 1u);  // the connection survived the errors
}

// read() runs its statements outside a transaction block: a statement
// before an exception stays committed (transaction() would roll it back),
// a failing statement does not break the connection, and a connection lost
// before the work's end is replaced and the work run again.
TEST_F(DatabaseTest, ReadRunsEachStatementOnItsOwnAndRetriesABrokenConnection) {
  ConnectionPool pool(settings(1));
  pool.transaction([](pqxx::work& tx) { tx.exec("CREATE TABLE t_read (v int)"); });
  EXPECT_THROW(pool.read([](pqxx::nontransaction& tx) {
    tx.exec_params("INSERT INTO t_read VALUES ($1)", 1);
    throw std::logic_error("handler failed");
  }),
               std::logic_error);
  EXPECT_THROW(pool.read([](pqxx::nontransaction& tx) { tx.exec("SELECT * FROM no_such_table"); }),
               pqxx::sql_error);
  std::int64_t seen = -1;
  pool.read([&](pqxx::nontransaction& tx) {
    seen = tx.exec("SELECT count(*) FROM t_read")[0][0].as<std::int64_t>();
  });
  EXPECT_EQ(seen, 1);
  EXPECT_EQ(pool.openConnections(), 1u);

  int runs = 0;
  pool.read([&](pqxx::nontransaction& tx) {
    ++runs;
    if (runs == 1) {
      server().stop();
      server().start();
    }
    seen = tx.exec("SELECT count(*) FROM t_read")[0][0].as<std::int64_t>();
  });
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(seen, 1);
}

// generic_plans (on by default) sets plan_cache_mode on every connection the
// pool opens, a replaced one included; off leaves PostgreSQL's choice.
TEST_F(DatabaseTest, GenericPlansAreSetOnEveryConnectionUnlessTurnedOff) {
  const auto planCacheMode = [](ConnectionPool& pool) {
    std::string mode;
    pool.read([&](pqxx::nontransaction& tx) {
      mode = tx.exec("SHOW plan_cache_mode")[0][0].as<std::string>();
    });
    return mode;
  };
  ConnectionPool pool(settings(1));
  EXPECT_EQ(planCacheMode(pool), "force_generic_plan");
  server().stop();
  server().start();
  EXPECT_EQ(planCacheMode(pool), "force_generic_plan");

  PoolSettings off = settings(1);
  off.genericPlans = false;
  ConnectionPool custom(off);
  EXPECT_EQ(planCacheMode(custom), "auto");
  EXPECT_TRUE(PoolSettings{}.genericPlans);
  config::DatabaseSettings section;
  section.genericPlans = false;
  EXPECT_FALSE(poolSettingsFrom(section).genericPlans);
}

// outboxNotify false (the engine's pool) sets commsvc.outbox_notify = off,
// which the outbox trigger reads, on every connection, also after a restart.
TEST_F(DatabaseTest, OutboxNotifyOffIsSetOnEveryConnection) {
  const auto outboxNotify = [](ConnectionPool& pool) {
    std::string value;
    pool.read([&](pqxx::nontransaction& tx) {
      const pqxx::field f = tx.exec("SELECT current_setting('commsvc.outbox_notify', true)")[0][0];
      value = f.is_null() ? "(unset)" : f.as<std::string>();
    });
    return value;
  };
  PoolSettings off = settings(1);
  off.outboxNotify = false;
  ConnectionPool engine(off);
  EXPECT_EQ(outboxNotify(engine), "off");
  server().stop();
  server().start();
  EXPECT_EQ(outboxNotify(engine), "off");
  ConnectionPool other(settings(1));
  EXPECT_NE(outboxNotify(other), "off");
  EXPECT_TRUE(PoolSettings{}.outboxNotify);
}

// afterCommit: a hook runs once, after the pool transaction it was added in
// commits; never for one that rolls back (nor in a later one); at once
// outside any transaction; an inner transaction's hooks after the inner one.
TEST_F(DatabaseTest, AfterCommitHooksRunOnlyOnceTheirTransactionCommitted) {
  ConnectionPool pool(settings(2));
  int ran = 0;
  afterCommit([&] { ++ran; });
  EXPECT_EQ(ran, 1);

  pool.transaction([&](pqxx::work& tx) {
    tx.exec("SELECT 1");
    afterCommit([&] { ++ran; });
    EXPECT_EQ(ran, 1);
  });
  EXPECT_EQ(ran, 2);

  EXPECT_THROW(pool.transaction([&](pqxx::work&) {
    afterCommit([&] { ran += 100; });
    throw std::runtime_error("rolled back");
  }),
               std::runtime_error);
  EXPECT_THROW(pool.transaction([&](pqxx::work& tx) {
    afterCommit([&] { ran += 100; });
    tx.exec("SELECT 1/0");
  }),
               pqxx::sql_error);
  pool.transaction([&](pqxx::work& tx) { tx.exec("SELECT 1"); });
  EXPECT_EQ(ran, 2);

  std::vector<std::string> order;
  pool.transaction([&](pqxx::work&) {
    afterCommit([&] { order.push_back("outer"); });
    pool.transaction([&](pqxx::work&) { afterCommit([&] { order.push_back("inner"); }); });
    EXPECT_EQ(order, std::vector<std::string>{"inner"});
  });
  EXPECT_EQ(order, (std::vector<std::string>{"inner", "outer"}));
  // Hooks that throw are dropped; the others still run.
  pool.transaction([&](pqxx::work&) {
    afterCommit([] { throw std::runtime_error("hook"); });
    afterCommit([&] { ++ran; });
  });
  EXPECT_EQ(ran, 3);
}

// commsvc::execPrepared prepares a statement once per connection (by a name
// from its text) and reuses it; a replaced connection prepares it again.
TEST_F(DatabaseTest, PreparedStatementsArePreparedOncePerConnection) {
  ConnectionPool pool(settings(1));
  static const std::string kDouble = "SELECT $1::int * 2";
  using Seen = std::pair<std::int64_t, std::int64_t>;  // result, statements
  const auto run = [&](int value) {
    std::int64_t doubled = 0, statements = 0;
    pool.read([&](pqxx::nontransaction& tx) {
      doubled = commsvc::execPrepared(tx, kDouble, value)[0][0].as<std::int64_t>();
      doubled = commsvc::execPrepared(tx, kDouble, value)[0][0].as<std::int64_t>();
      statements =
          tx.exec_params("SELECT count(*) FROM pg_prepared_statements WHERE statement = $1",
                         kDouble)[0][0]
              .as<std::int64_t>();
    });
    return Seen(doubled, statements);
  };
  EXPECT_EQ(run(21), Seen(42, 1));
  EXPECT_EQ(run(5), Seen(10, 1));
  server().stop();
  server().start();
  EXPECT_EQ(run(7), Seen(14, 1));
}

TEST_F(DatabaseTest, TwoConnectionsServeEightThreads) {
  ConnectionPool pool(settings(2));
  pool.transaction([](pqxx::work& tx) {
    tx.exec("CREATE TABLE t_counter (n int); INSERT INTO t_counter VALUES (0)");
  });
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        try {
          pool.transaction([](pqxx::work& tx) { tx.exec("UPDATE t_counter SET n = n + 1"); });
        } catch (const std::exception&) {
          ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(count(pool, "SELECT n FROM t_counter"), 400);
  EXPECT_LE(pool.openConnections(), 2u);
}

TEST_F(DatabaseTest, AcquireTimesOutWhenAllConnectionsAreHeld) {
  auto s = settings(1);
  s.acquireTimeout = 200ms;
  ConnectionPool pool(s);
  std::promise<void> holding, release;
  auto released = release.get_future().share();
  std::thread holder([&] {
    pool.transaction([&](pqxx::work&) {
      holding.set_value();
      released.wait();
    });
  });
  holding.get_future().wait();
  const auto started = std::chrono::steady_clock::now();
  EXPECT_THROW(pool.transaction([](pqxx::work&) {}), std::runtime_error);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 190ms);
  release.set_value();
  holder.join();
  EXPECT_TRUE(pool.ping());  // the slot came back
}

TEST(BrokenConnectionFix, ActiveInThisBinary) {
  // libpqxx must bind to our PQclientEncoding (see broken_connection_fix.hpp).
  EXPECT_TRUE(brokenConnectionFixActive());
}

TEST_F(DatabaseTest, ReconnectsAfterPostgresRestart) {
  const std::size_t rescuedBefore = brokenConnectionResultsRescued();
  ConnectionPool pool(settings(2));
  pool.transaction([](pqxx::work& tx) { tx.exec("CREATE TABLE t_restart (v int)"); });
  server().stop();
  server().start();
  int runs = 0;
  pool.transaction([&](pqxx::work& tx) {
    ++runs;
    tx.exec_params("INSERT INTO t_restart VALUES ($1)", 7);
  });
  EXPECT_GE(runs, 1);
  EXPECT_EQ(count(pool, "SELECT count(*) FROM t_restart"), 1);
  EXPECT_TRUE(pool.ping());
  // The idle connection broke under BEGIN: libpqxx 6.4 would have leaked
  // that result (LeakSanitizer fails the debug build's run if it still does).
  EXPECT_GT(brokenConnectionResultsRescued(), rescuedBefore);
}

TEST_F(DatabaseTest, BreakInsideATransactionIsRetriedWithoutLeaking) {
  const std::size_t rescuedBefore = brokenConnectionResultsRescued();
  ConnectionPool pool(settings(1));
  pool.transaction([](pqxx::work& tx) { tx.exec("CREATE TABLE t_midway (v int)"); });
  int runs = 0;
  pool.transaction([&](pqxx::work& tx) {
    ++runs;
    tx.exec_params("INSERT INTO t_midway VALUES ($1)", runs);
    if (runs == 1) {
      server().stop();  // terminates this session mid-transaction
      server().start();
    }
    tx.exec("SELECT 1");  // first run: the broken connection is found here
  });
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(count(pool, "SELECT count(*) FROM t_midway"), 1);
  EXPECT_EQ(count(pool, "SELECT max(v) FROM t_midway"), 2);
  EXPECT_GT(brokenConnectionResultsRescued(), rescuedBefore);
}

TEST_F(DatabaseTest, ResultsKeptPastABrokenConnectionStayValid) {
  // A result read before the break belongs to the caller, not to the
  // connection: dropping the broken connection must not free it.
  ConnectionPool pool(settings(1));
  pqxx::result kept;
  pool.transaction([&](pqxx::work& tx) { kept = tx.exec("SELECT 'still here'::text AS v"); });
  server().stop();
  EXPECT_THROW(pool.transaction([](pqxx::work& tx) { tx.exec("SELECT 1"); }),
               pqxx::broken_connection);
  server().start();
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0][0].as<std::string>(), "still here");
  EXPECT_TRUE(pool.ping());
}

TEST_F(DatabaseTest, FailsWhenPostgresStaysDown) {
  auto s = settings(1);
  s.maxAttempts = 2;
  ConnectionPool pool(s);
  EXPECT_TRUE(pool.ping());
  server().stop();
  EXPECT_THROW(pool.transaction([](pqxx::work& tx) { tx.exec("SELECT 1"); }),
               pqxx::broken_connection);
  EXPECT_FALSE(pool.ping());
  server().start();
  EXPECT_TRUE(pool.ping());
}

}  // namespace
}  // namespace commsvc::database
