#include "database/pool.hpp"

#include <algorithm>
#include <stdexcept>
#include <thread>
#include <type_traits>

#include "commsvc/backoff.hpp"
#include "database/broken_connection_fix.hpp"

namespace commsvc::database {
namespace {

// True for errors that mean "this connection is gone", not "this SQL failed".
bool connectionLost(const std::exception& error) {
  if (dynamic_cast<const pqxx::broken_connection*>(&error) != nullptr) return true;
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&error)) {
    const std::string& state = sql->sqlstate();
    return state.rfind("08", 0) == 0 || state.rfind("57P0", 0) == 0;
  }
  return false;
}

// The hooks of the pool transaction running on this thread (innermost), or
// null outside one.
struct CommitHooks {
  std::vector<std::function<void()>> hooks;
  CommitHooks* outer = nullptr;
};
thread_local CommitHooks* tCommitHooks = nullptr;

// Makes `hooks` the thread's current list for its lifetime.
struct CommitHooksScope {
  explicit CommitHooksScope(CommitHooks& hooks) : hooks_(hooks) {
    hooks_.outer = tCommitHooks;
    tCommitHooks = &hooks_;
  }
  ~CommitHooksScope() { tCommitHooks = hooks_.outer; }
  CommitHooksScope(const CommitHooksScope&) = delete;
  CommitHooksScope& operator=(const CommitHooksScope&) = delete;

 private:
  CommitHooks& hooks_;
};

void runHook(const std::function<void()>& hook) {
  try {
    hook();
  } catch (...) {  // documented: dropped
  }
}

bool isUrl(const std::string& url) {
  return url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
}

}  // namespace

PoolSettings poolSettingsFrom(const config::DatabaseSettings& database) {
  PoolSettings settings;
  settings.url = database.url;
  settings.size = static_cast<std::size_t>(database.poolSize);
  settings.connectTimeout = database.connectTimeout;
  settings.acquireTimeout = settings.connectTimeout;
  settings.genericPlans = database.genericPlans;
  return settings;
}

void afterCommit(std::function<void()> hook) {
  if (tCommitHooks == nullptr) {
    runHook(hook);
  } else {
    tCommitHooks->hooks.push_back(std::move(hook));
  }
}

std::string withConnectTimeout(const std::string& url, std::chrono::seconds timeout) {
  if (url.find("connect_timeout") != std::string::npos) return url;
  const std::string value = std::to_string(std::max<long long>(timeout.count(), 1));
  if (isUrl(url)) {
    return url + (url.find('?') == std::string::npos ? "?" : "&") + "connect_timeout=" + value;
  }
  return url + (url.empty() ? "" : " ") + "connect_timeout=" + value;
}

ConnectionPool::ConnectionPool(PoolSettings settings, Logger* logger)
    : settings_(std::move(settings)),
      conninfo_(withConnectTimeout(settings_.url, settings_.connectTimeout)),
      logger_(logger) {
  if (settings_.size == 0) throw std::invalid_argument("database pool size must be at least 1");
  if (settings_.maxAttempts < 1) settings_.maxAttempts = 1;
  idle_.resize(settings_.size);
  if (!brokenConnectionFixActive() && logger_ != nullptr) {
    logger_->warn("libpqxx's leak on broken connections is not worked around in this binary",
                  {{"detail", "PQclientEncoding is not exported by the executable"}});
  }
}

ConnectionPool::~ConnectionPool() = default;

std::size_t ConnectionPool::openConnections() const {
  std::lock_guard lock(mutex_);
  return open_;
}

ConnectionPool::Connection ConnectionPool::acquire() {
  std::unique_lock lock(mutex_);
  if (!freed_.wait_for(lock, settings_.acquireTimeout, [&] { return !idle_.empty(); })) {
    throw std::runtime_error("no database connection free within " +
                             std::to_string(settings_.acquireTimeout.count()) + " ms (pool of " +
                             std::to_string(settings_.size) + ")");
  }
  // Prefer an open connection over an unopened slot.
  auto it =
      std::find_if(idle_.begin(), idle_.end(), [](const Connection& c) { return c != nullptr; });
  if (it == idle_.end()) it = idle_.begin();
  Connection connection = std::move(*it);
  idle_.erase(it);
  return connection;
}

void ConnectionPool::release(Connection connection) {
  {
    std::lock_guard lock(mutex_);
    idle_.push_back(std::move(connection));
  }
  freed_.notify_one();
}

ConnectionPool::Connection ConnectionPool::connect() {
  auto connection = std::make_unique<pqxx::connection>(conninfo_);
  if (settings_.genericPlans) {
    try {
      // Through set_variable, so that libpqxx sets it again when it
      // reconnects this connection by itself.
      connection->set_variable("plan_cache_mode", "force_generic_plan");
    } catch (const pqxx::sql_error& e) {
      if (e.sqlstate() != "42704") throw;  // not "unrecognized configuration parameter"
      // A server before PostgreSQL 12: it plans as it always did.
      if (logger_ != nullptr && !genericPlansWarned_.exchange(true)) {
        logger_->warn("database.generic_plans has no effect on this server",
                      {{"detail", e.what()}});
      }
    }
  }
  if (!settings_.outboxNotify) connection->set_variable("commsvc.outbox_notify", "off");
  std::lock_guard lock(mutex_);
  ++open_;
  return connection;
}

void ConnectionPool::transaction(const std::function<void(pqxx::work& tx)>& work) {
  run<pqxx::work>(work);
}

void ConnectionPool::read(const std::function<void(pqxx::nontransaction& tx)>& work) {
  run<pqxx::nontransaction>(work);
}

template <typename Tx>
void ConnectionPool::run(const std::function<void(Tx& tx)>& work) {
  Connection connection = acquire();
  // Gives the slot back however this function ends.
  struct Returner {
    ConnectionPool& pool;
    Connection& connection;
    ~Returner() { pool.release(std::move(connection)); }
  } returner{*this, connection};

  auto drop = [&] {
    if (!connection) return;
    connection.reset();
    std::lock_guard lock(mutex_);
    --open_;
  };

  // Capped and jittered, so instances reconnecting after a restart spread out.
  Backoff backoff(settings_.retryBackoff, settings_.retryBackoff * 16);
  for (int attempt = 1;; ++attempt) {
    try {
      if (connection && !connection->is_open()) drop();
      if (!connection) connection = connect();
      const auto runOnce = [&] {
        Tx tx(*connection);
        work(tx);
        tx.commit();
      };
      if constexpr (std::is_same_v<Tx, pqxx::work>) {
        CommitHooks hooks;  // a new list per attempt: a retried run adds its own
        {
          CommitHooksScope scope(hooks);
          runOnce();
        }
        for (const auto& hook : hooks.hooks) runHook(hook);
      } else {
        runOnce();
      }
      return;
    } catch (const pqxx::in_doubt_error&) {
      drop();  // the commit's outcome is unknown: never run `work` again
      throw;
    } catch (const std::exception& error) {
      if (!connectionLost(error)) {
        if (connection && !connection->is_open()) drop();
        throw;  // pqxx::work's destructor rolled back already
      }
      drop();
      if (attempt >= settings_.maxAttempts) throw;
      if (logger_ != nullptr) {
        logger_->warn("database connection lost, reconnecting",
                      {{"attempt", std::to_string(attempt)}, {"error", error.what()}});
      }
      std::this_thread::sleep_for(backoff.next());
    }
  }
}

bool ConnectionPool::ping(std::string* error) {
  try {
    read([](pqxx::nontransaction& tx) { tx.exec("SELECT 1"); });
    return true;
  } catch (const std::exception& e) {
    if (error != nullptr) *error = e.what();
    return false;
  }
}

}  // namespace commsvc::database
