#pragma once

#include <string>

#include "pipeline_test/postgres.hpp"

namespace commsvc::testing {

/// A throw-away PostgreSQL server for tests with one database created: the
/// server `commsvc test` uses (pipeline_test::ThrowawayPostgres: a copy of a
/// cached initdb template on a free 127.0.0.1 port, trust authentication,
/// as user `postgres` when root). Stopped and deleted by the destructor.
class TemporaryPostgres {
 public:
  /// Initialises, starts and creates `database`. Throws std::runtime_error
  /// (with the server log's tail) when any step fails.
  explicit TemporaryPostgres(std::string database = "commsvc_test");

  /// libpq URL of the database: postgresql://postgres@127.0.0.1:PORT/DB.
  std::string url() const { return url_; }
  /// The TCP port, the same across stop()/start().
  int port() const { return server_.port(); }
  /// Stops the server (fast mode: sessions are terminated).
  void stop() { server_.stop(); }
  /// Starts it again on the same port and data directory.
  void start() { server_.start(); }

 private:
  pipeline_test::ThrowawayPostgres server_;
  std::string url_;
};

}  // namespace commsvc::testing
