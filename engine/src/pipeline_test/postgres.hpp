#pragma once

#include <string>

namespace commsvc::pipeline_test {

/// A throw-away PostgreSQL server for `commsvc test`: a copy of a cached
/// initdb template (made once per user and server version under $TMPDIR) in
/// a fresh temporary directory, started with pg_ctl on a free 127.0.0.1
/// port with its own socket directory, trust authentication and fsync off.
/// As root the server runs as user `postgres` (initdb refuses root). Stopped
/// and deleted by the destructor. The server binaries are taken from
/// $COMMSVC_PG_BIN, else the newest /usr/lib/postgresql/*/bin, else PATH.
class ThrowawayPostgres {
 public:
  /// Initialises and starts the server. Throws std::runtime_error (with the
  /// tail of the server's log) when a step fails.
  ThrowawayPostgres();
  /// Stops the server (fast mode) and removes its directory.
  ~ThrowawayPostgres();
  ThrowawayPostgres(const ThrowawayPostgres&) = delete;
  ThrowawayPostgres& operator=(const ThrowawayPostgres&) = delete;

  /// Creates the empty database `name` (letters, digits, `_`) and returns
  /// its libpq URL, postgresql://postgres@127.0.0.1:PORT/NAME. Throws
  /// std::runtime_error when it cannot.
  std::string createDatabase(const std::string& name);
  /// The TCP port, the same across stop()/start().
  int port() const { return port_; }
  /// Stops the server (fast mode: sessions are terminated); throws
  /// std::runtime_error when pg_ctl fails.
  void stop();
  /// Starts it again on the same port and data directory; throws
  /// std::runtime_error when pg_ctl fails.
  void start();

 private:
  void copyTemplate();
  // Runs a server program (as postgres when root); throws with its output.
  void run(const std::string& command, const std::string& what);

  std::string binDir_;
  std::string root_;
  std::string dataDir_;
  std::string socketDir_;
  std::string logFile_;
  int port_ = 0;
  bool asPostgres_ = false;
  bool running_ = false;
};

}  // namespace commsvc::pipeline_test
