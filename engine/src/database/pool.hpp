#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "commsvc/database.hpp"
#include "commsvc/logger.hpp"
#include "config/settings.hpp"

namespace commsvc::database {

/// How a ConnectionPool connects and how long it waits.
struct PoolSettings {
  std::string url;                                 ///< libpq URL or key=value conninfo
  std::size_t size = 4;                            ///< connections at most
  std::chrono::seconds connectTimeout{5};          ///< libpq connect_timeout of every connection
  std::chrono::milliseconds acquireTimeout{5000};  ///< wait for a free connection
  int maxAttempts = 4;                          ///< runs of `work` when connections keep breaking
  std::chrono::milliseconds retryBackoff{100};  ///< first pause between attempts, doubled each time
  /// Sets plan_cache_mode = force_generic_plan on every connection: every
  /// statement with parameters (exec_params too) runs on a generic plan, so
  /// a prepared one is planned once per connection, not at every execution
  /// (with LIMIT $n PostgreSQL otherwise keeps planning the API's list
  /// queries anew); filters on skewed columns need an index in the order
  /// they serve. Servers before 12 lack the setting: a warning.
  bool genericPlans = true;
  /// false: this pool's transactions do not NOTIFY the outbox channel when
  /// they add outbox rows (sets commsvc.outbox_notify = off on every
  /// connection, which the outbox table's trigger reads). For a process
  /// whose relay is woken after commit in-process (afterCommit) and tells
  /// other instances itself: PostgreSQL serialises the commits of all
  /// notifying transactions (a database-wide lock held through the WAL
  /// flush), which capped writes that add outbox rows at about one per
  /// flush (~1,100 transactions/s here, ~2,900 without).
  bool outboxNotify = true;
};

/// Runs `hook` on this thread right after the ConnectionPool transaction
/// running on this thread commits; drops it when that transaction rolls
/// back or is run again after a lost connection. Outside a pool transaction
/// it runs at once. Hooks must not throw (what they throw is dropped).
void afterCommit(std::function<void()> hook);

/// PoolSettings from the `database:` section (url, pool_size,
/// connect_timeout_s, generic_plans). The acquire timeout equals the connect timeout.
PoolSettings poolSettingsFrom(const config::DatabaseSettings& database);

/// `url` with libpq's `connect_timeout` set to `timeout` unless the URL
/// sets one itself; works for both URL and key=value forms.
std::string withConnectTimeout(const std::string& url, std::chrono::seconds timeout);

/// The engine's PostgreSQL pool: at most `size` connections, opened lazily
/// on first use (never in the constructor) and reopened when found broken.
class ConnectionPool final : public Database {
 public:
  /// Connects to nothing yet. `logger` (optional) must outlive the pool.
  explicit ConnectionPool(PoolSettings settings, Logger* logger = nullptr);
  ~ConnectionPool() override;
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  /// See Database::transaction. Retries on pqxx::broken_connection (and on
  /// the server's shutdown/connection SQLSTATEs 08xxx, 57P0x) up to
  /// maxAttempts with a doubling, jittered backoff (capped at 16 x retryBackoff); anything else
  /// rolls back and propagates at once.
  void transaction(const std::function<void(pqxx::work& tx)>& work) override;

  /// See Database::read: the same retries, with a pqxx::nontransaction.
  void read(const std::function<void(pqxx::nontransaction& tx)>& work) override;

  /// Runs `SELECT 1` through the pool (connecting when needed). Returns
  /// true when it worked; otherwise false and the reason in `error`.
  bool ping(std::string* error = nullptr);

  /// Connections at most.
  std::size_t size() const { return settings_.size; }
  /// Connections currently open (idle or in use), for tests and metrics.
  std::size_t openConnections() const;

 private:
  using Connection = std::unique_ptr<pqxx::connection>;

  // Waits up to acquireTimeout for a slot; returns its connection (possibly
  // null: not yet opened). Throws std::runtime_error on timeout.
  Connection acquire();
  // Gives a slot back; `connection` may be null (dropped).
  void release(Connection connection);
  // Opens a connection with the connect timeout applied.
  Connection connect();
  // transaction() and read(): runs `work` in a `Tx` on a pooled connection,
  // commits, retries on a lost connection.
  template <typename Tx>
  void run(const std::function<void(Tx& tx)>& work);

  PoolSettings settings_;
  std::string conninfo_;
  Logger* logger_;
  std::atomic<bool> genericPlansWarned_{false};  // the pre-12 warning is given once
  mutable std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<Connection> idle_;  // slots not checked out; null = not opened
  std::size_t open_ = 0;          // connections opened and not dropped
};

}  // namespace commsvc::database
