#pragma once

#include <functional>
#include <pqxx/pqxx>

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
  /// API list or lookup) it saves the BEGIN and COMMIT round trips of
  /// transaction(). Statements that must commit together belong in
  /// transaction(). Same broken-connection retry and exceptions.
  virtual void read(const std::function<void(pqxx::nontransaction& tx)>& work) = 0;
};

}  // namespace commsvc
