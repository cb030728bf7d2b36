#pragma once

#include <cstdio>
#include <functional>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <utility>

namespace commsvc {

/// The engine's PostgreSQL connection pool, offered to plugins through
/// Context::database(). Thread-safe. SQL goes only through parameterised
/// or prepared statements (tx.exec_params / tx.exec_prepared).
class Database {
 public:
  virtual ~Database() = default;

  /// Runs `work` in one transaction on a pooled connection and commits when
  /// it returns. An exception from `work` rolls back and propagates. A
  /// connection found broken (PostgreSQL restarted) is replaced and `work`
  /// run again, so `work` must not have effects outside the transaction.
  /// Throws pqxx::broken_connection when PostgreSQL stays unreachable past
  /// the pool's connect timeout, and std::runtime_error when no connection
  /// is free within the acquire timeout.
  virtual void transaction(const std::function<void(pqxx::work& tx)>& work) = 0;

  /// Runs `work` on a pooled connection outside a transaction block: each
  /// statement commits on its own. For a read that is one statement (an
  /// API list or lookup), or a single write that may run twice without
  /// harm, it saves the BEGIN and COMMIT round trips of transaction().
  /// Statements that must commit together belong in transaction(). Same
  /// broken-connection retry (`work` may run again) and exceptions.
  virtual void read(const std::function<void(pqxx::nontransaction& tx)>& work) = 0;
};

/// The name under which `sql` is a prepared statement of the transaction's
/// connection: defined there on first use, prepared by PostgreSQL on its
/// first execution, then reused (parsed once per connection, and planned
/// once with database.generic_plans); a replaced connection prepares it
/// again. The name comes from the SQL text alone, so every plugin library
/// and the engine agree on it without sharing state.
inline std::string prepared(pqxx::transaction_base& tx, const std::string& sql) {
  char name[48];
  std::snprintf(name, sizeof name, "commsvc_%016zx_%zu", std::hash<std::string>{}(sql), sql.size());
  tx.conn().prepare(name, sql);  // a no-op when the connection knows it already
  return name;
}

/// Runs `sql` as a prepared statement (see prepared()) with the parameters
/// `args`, as tx.exec_params takes them (nullptr is NULL). For statements
/// run often; give the same text each time (e.g. a static const string).
template <typename... Args>
pqxx::result execPrepared(pqxx::transaction_base& tx, const std::string& sql, Args&&... args) {
  return tx.exec_prepared(prepared(tx, sql), std::forward<Args>(args)...);
}

/// Appends `text` as one quoted element to `array`, a PostgreSQL array
/// literal being built: start it with "{", end it with "}", and pass it as
/// a `$n::text[]` (or other array type) parameter. Any text but NUL fits.
inline void appendArrayElement(std::string& array, std::string_view text) {
  if (array.size() > 1) array += ',';
  array += '"';
  for (const char c : text) {
    if (c == '"' || c == '\\') array += '\\';
    array += c;
  }
  array += '"';
}

/// Appends a NULL element to `array` (see appendArrayElement).
inline void appendArrayNull(std::string& array) {
  if (array.size() > 1) array += ',';
  array += "NULL";
}

}  // namespace commsvc
