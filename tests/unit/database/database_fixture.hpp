#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "../../support/postgres.hpp"
#include "database/pool.hpp"

namespace commsvc::database {

/// One real PostgreSQL per test process (gtest_discover_tests runs each
/// test in its own process), started before the suite's first test.
class DatabaseTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = std::make_unique<testing::TemporaryPostgres>(); }
  static void TearDownTestSuite() { server_.reset(); }

  /// The server.
  static testing::TemporaryPostgres& server() { return *server_; }

  /// Pool settings for the server, with short timeouts.
  static PoolSettings settings(std::size_t size = 2) {
    PoolSettings s;
    s.url = server_->url();
    s.size = size;
    s.connectTimeout = std::chrono::seconds(2);
    s.acquireTimeout = std::chrono::milliseconds(3000);
    s.retryBackoff = std::chrono::milliseconds(50);
    return s;
  }

  static inline std::unique_ptr<testing::TemporaryPostgres> server_;
};

}  // namespace commsvc::database
