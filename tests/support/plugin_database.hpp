#pragma once

// Scaffolding shared by the plugin tests that run against a real
// PostgreSQL: an Outbox writing to public.test_outbox, a reader of its
// rows and a gtest fixture owning the server (per test suite) and the pool
// (per test). The Context to hand to a plugin is the testing kit's
// FakeContext (commsvc/testing/fake_context.hpp): setDatabase, setOutbox,
// setOutboxFor.

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "commsvc/database.hpp"
#include "commsvc/outbox.hpp"
#include "commsvc/plugin.hpp"
#include "commsvc/testing/fake_context.hpp"
#include "database/pool.hpp"
#include "postgres.hpp"

namespace commsvc::testing {

/// An Outbox that inserts each event (id, type, key, payload) into
/// public.test_outbox inside the caller's transaction: a row exists if and
/// only if that transaction committed, which is what the tests check.
class TableOutbox : public Outbox {
 public:
  /// Inserts `event` and returns its seq; throws what the insert throws.
  std::int64_t add(pqxx::work& tx, const Event& event) override;
  /// Records the ids waited for (nothing relays this table) and returns true.
  bool awaitPublished(const std::vector<std::int64_t>& ids,
                      std::chrono::milliseconds timeout) override;
  /// Every id awaitPublished was asked for, in call order.
  std::vector<std::int64_t> awaited() const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::int64_t> awaited_;
};

/// One row of public.test_outbox.
struct OutboxRow {
  std::string type;        ///< the event's type
  std::string key;         ///< the event's key
  nlohmann::json payload;  ///< the event's payload, parsed
  std::string eventId;     ///< the event's id
};

/// The rows of public.test_outbox in insertion order. Throws what the
/// query or the JSON parser throws.
std::vector<OutboxRow> readOutbox(Database& database);

/// The environment variable naming an SQL file (tests/data/original_layout.sql)
/// that PluginDatabaseTest lays on each suite's new database before any
/// migration: the plugin tests then run on a database adopted from the
/// original service (ctest label `adoption`).
inline constexpr const char* kAdoptLayoutVariable = "COMMSVC_TEST_ADOPT_LAYOUT";

/// Runs the SQL file `path` (several statements) in one transaction on the
/// database at `url`; throws std::runtime_error when the file cannot be read
/// and what pqxx throws.
void runSqlFile(const std::string& url, const std::string& path);

/// Base fixture of the plugin tests against PostgreSQL: one
/// TemporaryPostgres per test suite, a fresh pool per test, an emptied
/// public.test_outbox and a TableOutbox writing to it. With
/// kAdoptLayoutVariable set, each suite's database starts with that layout.
class PluginDatabaseTest : public ::testing::Test {
 protected:
  /// Starts the suite's server and lays the layout kAdoptLayoutVariable
  /// names, if any; throws when either fails.
  static void SetUpTestSuite();
  /// Stops and deletes the suite's server.
  static void TearDownTestSuite();

  /// A fixture whose pool holds at most `poolSize` connections.
  explicit PluginDatabaseTest(std::size_t poolSize = 4) : poolSize_(poolSize) {}

  /// Opens the pool, creates public.test_outbox when missing and empties it
  /// (restarting its sequence).
  void SetUp() override;

  /// Applies the pending `migrations` of plugin `plugin` (database::migrate);
  /// throws database::MigrationError when they are refused or fail.
  void migrate(const std::string& plugin, std::span<const Migration> migrations);
  /// Runs `sql` in its own transaction; throws what pqxx throws.
  void exec(const std::string& sql);
  /// The single integer `sql` (e.g. a count(*)) returns.
  std::int64_t count(const std::string& sql);
  /// The rows of public.test_outbox in insertion order.
  std::vector<OutboxRow> outboxRows();

  static inline std::unique_ptr<TemporaryPostgres> server_;  ///< the suite's server
  std::unique_ptr<database::ConnectionPool> pool_;           ///< this test's pool
  TableOutbox outbox_;                                       ///< writes to public.test_outbox

 private:
  std::size_t poolSize_;
};

}  // namespace commsvc::testing
