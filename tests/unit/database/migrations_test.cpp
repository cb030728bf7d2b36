#include "database/migrations.hpp"

#include <thread>
#include <vector>

#include "database_fixture.hpp"

namespace commsvc::database {
namespace {

const Migration kNotes[] = {
    {1, "create notes", "CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)"},
    {2, "add author", "ALTER TABLE notes ADD COLUMN author text; CREATE INDEX ON notes (author)"},
    {5, "seed", "INSERT INTO notes (body, author) VALUES ('hello', 'engine')"},
};

std::vector<std::pair<std::int32_t, std::string>> recorded(ConnectionPool& pool,
                                                           const std::string& plugin) {
  std::vector<std::pair<std::int32_t, std::string>> out;
  pool.transaction([&](pqxx::work& tx) {
    for (const auto& row : tx.exec_params(
             "SELECT version, name FROM public.commsvc_schema_migrations WHERE plugin = $1 "
             "ORDER BY version",
             plugin)) {
      out.emplace_back(row[0].as<std::int32_t>(), row[1].as<std::string>());
    }
  });
  return out;
}

bool tableExists(ConnectionPool& pool, const std::string& table) {
  bool exists = false;
  pool.transaction([&](pqxx::work& tx) {
    exists = tx.exec_params1("SELECT to_regclass($1) IS NOT NULL", table)[0].as<bool>();
  });
  return exists;
}

TEST(CheckMigrations, RefusesVersionsNotStrictlyIncreasing) {
  const Migration repeated[] = {{1, "a", "SELECT 1"}, {2, "b", "SELECT 1"}, {2, "c", "SELECT 1"}};
  const Migration zero[] = {{0, "a", "SELECT 1"}};
  const Migration backwards[] = {{3, "a", "SELECT 1"}, {1, "b", "SELECT 1"}};
  for (auto list : {std::span<const Migration>(repeated), std::span<const Migration>(zero),
                    std::span<const Migration>(backwards)}) {
    const PluginMigrations plugins[] = {{"email", list}};
    try {
      checkMigrations(plugins);
      ADD_FAILURE() << "accepted";
    } catch (const MigrationError& e) {
      EXPECT_NE(std::string(e.what()).find("plugin 'email'"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("strictly increasing"), std::string::npos);
    }
  }
  const Migration repeatedOnly[] = {{1, "a", "SELECT 1"}, {1, "b", "SELECT 1"}};
  const PluginMigrations plugins[] = {{"email", repeatedOnly}};
  try {
    checkMigrations(plugins);
    ADD_FAILURE() << "accepted";
  } catch (const MigrationError& e) {
    EXPECT_NE(std::string(e.what()).find("version 1 follows 1"), std::string::npos) << e.what();
  }
}

TEST(CheckMigrations, AcceptsGapsAndEmptyLists) {
  const PluginMigrations plugins[] = {{"notes", kNotes}, {"none", {}}};
  EXPECT_NO_THROW(checkMigrations(plugins));
}

TEST(Migrate, NothingToDoTouchesNoDatabase) {
  PoolSettings s;
  s.url = "postgresql://postgres@127.0.0.1:1/none";
  ConnectionPool pool(s);
  const PluginMigrations plugins[] = {{"none", {}}};
  EXPECT_TRUE(migrate(pool, plugins).empty());
  EXPECT_EQ(pool.openConnections(), 0u);
}

TEST_F(DatabaseTest, AppliesInOrderAndRecordsThemThenNothingTheSecondTime) {
  ConnectionPool pool(settings());
  const PluginMigrations plugins[] = {{"notes", kNotes}, {"none", {}}};
  const auto applied = migrate(pool, plugins);
  ASSERT_EQ(applied.size(), 3u);
  EXPECT_EQ(applied[0].version, 1);
  EXPECT_EQ(applied[1].version, 2);
  EXPECT_EQ(applied[2].version, 5);
  EXPECT_EQ(applied[2].plugin, "notes");
  EXPECT_EQ(applied[2].name, "seed");
  const std::vector<std::pair<std::int32_t, std::string>> expected = {
      {1, "create notes"}, {2, "add author"}, {5, "seed"}};
  EXPECT_EQ(recorded(pool, "notes"), expected);
  pool.transaction([](pqxx::work& tx) {
    EXPECT_EQ(tx.exec1("SELECT author FROM notes")[0].as<std::string>(), "engine");
  });

  EXPECT_TRUE(migrate(pool, plugins).empty());
  EXPECT_EQ(recorded(pool, "notes"), expected);

  // A new version shipped later is applied alone.
  const Migration more[] = {kNotes[0], kNotes[1], kNotes[2], {6, "drop seed", "DELETE FROM notes"}};
  const PluginMigrations later[] = {{"notes", more}};
  const auto next = migrate(pool, later);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].version, 6);
}

TEST_F(DatabaseTest, ConcurrentRunsApplyEachMigrationOnce) {
  // Without IF NOT EXISTS: applying any of these twice fails.
  const Migration list[] = {
      {1, "a", "CREATE TABLE race_a (v int)"},
      {2, "b", "CREATE TABLE race_b (v int); SELECT pg_sleep(0.05)"},
      {3, "c", "CREATE TABLE race_c (v int)"},
  };
  const PluginMigrations plugins[] = {{"race", list}};
  constexpr int kRunners = 4;
  std::vector<std::size_t> counts(kRunners);
  std::vector<std::string> errors(kRunners);
  std::vector<std::thread> threads;
  for (int i = 0; i < kRunners; ++i) {
    threads.emplace_back([&, i] {
      ConnectionPool pool(settings(1));  // one pool each: as separate processes
      try {
        counts[i] = migrate(pool, plugins).size();
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  std::size_t total = 0;
  for (int i = 0; i < kRunners; ++i) {
    EXPECT_EQ(errors[i], "") << "runner " << i;
    total += counts[i];
  }
  EXPECT_EQ(total, 3u);
  ConnectionPool pool(settings());
  EXPECT_EQ(recorded(pool, "race").size(), 3u);
}

TEST_F(DatabaseTest, FailingMigrationRollsBackEntirelyAndIsNotRecorded) {
  const Migration list[] = {
      {1, "good", "CREATE TABLE fail_a (v int)"},
      {2, "bad", "CREATE TABLE fail_b (v int); INSERT INTO fail_a VALUES (1); SELECT 1/0"},
      {3, "never", "CREATE TABLE fail_c (v int)"},
  };
  const PluginMigrations plugins[] = {{"failing", list}};
  ConnectionPool pool(settings());
  try {
    migrate(pool, plugins);
    ADD_FAILURE() << "no error";
  } catch (const MigrationError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("plugin 'failing'"), std::string::npos) << what;
    EXPECT_NE(what.find("migration 2 (bad)"), std::string::npos) << what;
    EXPECT_NE(what.find("division by zero"), std::string::npos) << what;
  }
  const std::vector<std::pair<std::int32_t, std::string>> expected = {{1, "good"}};
  EXPECT_EQ(recorded(pool, "failing"), expected);
  EXPECT_TRUE(tableExists(pool, "fail_a"));
  EXPECT_FALSE(tableExists(pool, "fail_b"));
  EXPECT_FALSE(tableExists(pool, "fail_c"));
  pool.transaction(
      [](pqxx::work& tx) { EXPECT_EQ(tx.exec1("SELECT count(*) FROM fail_a")[0].as<int>(), 0); });
}

TEST_F(DatabaseTest, RefusesDowngrade) {
  const Migration list[] = {{1, "a", "CREATE TABLE down_a (v int)"},
                            {2, "b", "CREATE TABLE down_b (v int)"},
                            {5, "c", "CREATE TABLE down_c (v int)"}};
  ConnectionPool pool(settings());
  const PluginMigrations all[] = {{"down", list}};
  ASSERT_EQ(migrate(pool, all).size(), 3u);
  const PluginMigrations older[] = {{"down", std::span<const Migration>(list, 1)}};
  try {
    migrate(pool, older);
    ADD_FAILURE() << "no error";
  } catch (const MigrationError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("plugin 'down'"), std::string::npos) << what;
    EXPECT_NE(what.find("2, 5"), std::string::npos) << what;
  }
}

TEST_F(DatabaseTest, RefusesBadVersionsBeforeTouchingTheDatabase) {
  const Migration list[] = {{2, "b", "CREATE TABLE bad_b (v int)"}, {1, "a", "SELECT 1"}};
  const PluginMigrations plugins[] = {{"bad", list}};
  ConnectionPool pool(settings());
  EXPECT_THROW(migrate(pool, plugins), MigrationError);
  EXPECT_FALSE(tableExists(pool, "bad_b"));
}

}  // namespace
}  // namespace commsvc::database
