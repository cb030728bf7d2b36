#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../../support/fake_logging.hpp"
#include "../../support/postgres.hpp"
#include "commsvc/publisher.hpp"
#include "database/migrations.hpp"
#include "database/pool.hpp"
#include "logging/metrics_registry.hpp"
#include "outbox/migrations.hpp"
#include "outbox/postgres_outbox.hpp"
#include "outbox/relay.hpp"

namespace commsvc::outbox {

/// One publish seen by a RecordingPublisher.
struct Published {
  Event event;
  bool ok;
};

/// A shared, ordered log of publishes (several publishers may append to one).
class PublishLog {
 public:
  /// Appends one publish.
  void add(const Event& event, bool ok) {
    std::lock_guard lock(mutex_);
    entries_.push_back({event, ok});
    changed_.notify_all();
  }
  /// Every publish so far, in order.
  std::vector<Published> entries() const {
    std::lock_guard lock(mutex_);
    return entries_;
  }
  /// The successful publishes so far, in order.
  std::vector<Event> okEvents() const {
    std::lock_guard lock(mutex_);
    std::vector<Event> out;
    for (const auto& e : entries_) {
      if (e.ok) out.push_back(e.event);
    }
    return out;
  }
  /// Waits until at least `count` successful publishes were logged.
  bool waitForOk(std::size_t count, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] {
      std::size_t ok = 0;
      for (const auto& e : entries_) ok += e.ok ? 1 : 0;
      return ok >= count;
    });
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Published> entries_;
};

/// A test Publisher: logs every event, reports ok or (when switched to
/// failing) an error, synchronously or from its own thread.
class RecordingPublisher final : public Publisher {
 public:
  explicit RecordingPublisher(PublishLog& log) : log_(log) {}
  ~RecordingPublisher() override {
    for (auto& t : threads_) t.join();
  }

  void publish(Event event, PublishCallback done) override {
    calls_.fetch_add(1);
    const bool rejected = !rejectKey_.empty() && event.key == rejectKey_;
    const bool ok = !rejected && !failing_.load() && (failKey_.empty() || event.key != failKey_);
    log_.add(event, ok);
    if (!done) return;
    const PublishResult result = ok         ? PublishResult::published()
                                 : rejected ? PublishResult::rejected("404 unknown key")
                                            : PublishResult::failed("broker down");
    if (async_) {
      std::lock_guard lock(mutex_);
      threads_.emplace_back([done, result] { done(result); });
    } else {
      done(result);
    }
  }
  bool flush(std::chrono::milliseconds) override { return true; }

  /// Makes every publish fail (true) or succeed (false).
  void setFailing(bool failing) { failing_.store(failing); }
  /// Makes publishes of events with this key fail (empty: none). Set before use.
  void setFailingKey(std::string key) { failKey_ = std::move(key); }
  /// Makes the receiver reject events with this key (empty: none). Set before use.
  void setRejectingKey(std::string key) { rejectKey_ = std::move(key); }
  /// Reports from a separate thread. Set before use.
  void setAsync(bool async) { async_ = async; }
  /// publish() calls so far.
  int calls() const { return calls_.load(); }

 private:
  PublishLog& log_;
  std::atomic<bool> failing_{false};
  std::string failKey_;
  std::string rejectKey_;
  bool async_ = false;
  std::atomic<int> calls_{0};
  std::mutex mutex_;
  std::vector<std::thread> threads_;
};

/// One real PostgreSQL per test process, migrated with the engine's migrations.
class OutboxTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = std::make_unique<testing::TemporaryPostgres>(); }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    pool_ = makePool();
    const database::PluginMigrations engine[] = {engineMigrations()};
    database::migrate(*pool_, engine);
    // The binary run by hand shares one server between tests.
    pool_->transaction([](pqxx::work& tx) {
      tx.exec("TRUNCATE public.commsvc_outbox, public.commsvc_outbox_lease");
    });
  }

  /// A new pool on the server (a second engine instance gets its own).
  /// `outboxNotify` false: as the engine's pool (its transactions do not
  /// notify the outbox channel).
  static std::unique_ptr<database::ConnectionPool> makePool(std::size_t size = 3,
                                                            bool outboxNotify = true) {
    database::PoolSettings s;
    s.url = server_->url();
    s.size = size;
    s.outboxNotify = outboxNotify;
    s.connectTimeout = std::chrono::seconds(2);
    s.acquireTimeout = std::chrono::milliseconds(3000);
    s.retryBackoff = std::chrono::milliseconds(50);
    return std::make_unique<database::ConnectionPool>(s);
  }

  /// Fast settings for tests.
  static RelaySettings fast() {
    RelaySettings s;
    s.idleInterval = std::chrono::milliseconds(20);
    s.backoffInitial = std::chrono::milliseconds(50);
    s.backoffMax = std::chrono::milliseconds(200);
    s.publishTimeout = std::chrono::milliseconds(2000);
    return s;
  }

  /// Adds events in one committed transaction.
  void addCommitted(PostgresOutbox& outbox, const std::vector<Event>& events) {
    pool_->transaction([&](pqxx::work& tx) {
      for (const auto& e : events) outbox.add(tx, e);
    });
  }

  /// Rows still unpublished for `publisher`.
  long long unpublished(const std::string& publisher) {
    long long n = 0;
    pool_->transaction([&](pqxx::work& tx) {
      n = tx.exec_params1(
                "SELECT count(*) FROM public.commsvc_outbox WHERE publisher = $1 AND "
                "published_at IS NULL",
                publisher)[0]
              .as<long long>();
    });
    return n;
  }

  static std::string payload(int n) { return "{\"n\":" + std::to_string(n) + "}"; }

  static inline std::unique_ptr<testing::TemporaryPostgres> server_;
  std::unique_ptr<database::ConnectionPool> pool_;
  testing::CapturingLogger logger_;
  logging::MetricsRegistry metrics_;
};

}  // namespace commsvc::outbox
