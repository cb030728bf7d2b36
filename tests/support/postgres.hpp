#pragma once

#include <string>

namespace commsvc::testing {

/// A throw-away PostgreSQL server for tests: a copy of a cached initdb
/// template (made once per user and server version under $TMPDIR) in a fresh temporary
/// directory, started on a free 127.0.0.1 port with its own socket
/// directory and trust authentication, with one database created. Works as
/// root (the server runs as user `postgres` through runuser) and as any
/// other user. Stopped and deleted by the destructor.
class TemporaryPostgres {
 public:
  /// Initialises, starts and creates `database`. Throws std::runtime_error
  /// (with the server log's tail) when any step fails.
  explicit TemporaryPostgres(std::string database = "commsvc_test");
  /// Stops the server (fast mode) and removes its directory.
  ~TemporaryPostgres();
  TemporaryPostgres(const TemporaryPostgres&) = delete;
  TemporaryPostgres& operator=(const TemporaryPostgres&) = delete;

  /// libpq URL of the database: postgresql://postgres@127.0.0.1:PORT/DB.
  std::string url() const;
  /// The TCP port, the same across stop()/start().
  int port() const { return port_; }
  /// Stops the server (fast mode: sessions are terminated).
  void stop();
  /// Starts it again on the same port and data directory.
  void start();

 private:
  // Fills dataDir_ from a cached initdb template (made on first use).
  void copyTemplate();
  // Runs `command` (as postgres when root); throws with the log on failure.
  void run(const std::string& command, const std::string& what);

  std::string database_;
  std::string binDir_;
  std::string root_;     // the temporary directory
  std::string dataDir_;  // root_/data
  std::string socketDir_;
  std::string logFile_;
  int port_ = 0;
  bool asPostgres_ = false;
  bool running_ = false;
};

}  // namespace commsvc::testing
