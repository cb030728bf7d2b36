#include "plugin_database.hpp"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "database/migrations.hpp"

namespace commsvc::testing {

std::int64_t TableOutbox::add(pqxx::work& tx, const Event& event) {
  return tx
      .exec_params1(
          "INSERT INTO public.test_outbox (event_id, event_type, key, payload) "
          "VALUES ($1, $2, $3, $4) RETURNING seq",
          event.id, event.type, event.key, event.payload)[0]
      .as<std::int64_t>();
}

bool TableOutbox::awaitPublished(const std::vector<std::int64_t>& ids,
                                 std::chrono::milliseconds /*timeout*/) {
  std::lock_guard lock(mutex_);
  awaited_.insert(awaited_.end(), ids.begin(), ids.end());
  return true;
}

std::vector<std::int64_t> TableOutbox::awaited() const {
  std::lock_guard lock(mutex_);
  return awaited_;
}

std::vector<OutboxRow> readOutbox(Database& database) {
  std::vector<OutboxRow> rows;
  database.transaction([&](pqxx::work& tx) {
    rows.clear();  // the pool may run this again on a new connection
    for (const auto& r : tx.exec(
             "SELECT event_type, key, payload, event_id FROM public.test_outbox ORDER BY seq")) {
      rows.push_back({r[0].as<std::string>(), r[1].as<std::string>(),
                      nlohmann::json::parse(r[2].as<std::string>()),
                      r[3].as<std::string>(std::string())});
    }
  });
  return rows;
}

void runSqlFile(const std::string& url, const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read SQL file " + path);
  std::ostringstream sql;
  sql << in.rdbuf();
  pqxx::connection connection(url);
  pqxx::work tx(connection);
  tx.exec(sql.str());
  tx.commit();
}

void PluginDatabaseTest::SetUpTestSuite() {
  server_ = std::make_unique<TemporaryPostgres>();
  const char* layout = std::getenv(kAdoptLayoutVariable);
  if (layout != nullptr && *layout != '\0') runSqlFile(server_->url(), layout);
}

void PluginDatabaseTest::TearDownTestSuite() { server_.reset(); }

void PluginDatabaseTest::SetUp() {
  database::PoolSettings s;
  s.url = server_->url();
  s.size = poolSize_;
  s.connectTimeout = std::chrono::seconds(2);
  s.acquireTimeout = std::chrono::milliseconds(10000);
  s.retryBackoff = std::chrono::milliseconds(50);
  pool_ = std::make_unique<database::ConnectionPool>(s);
  exec(
      "CREATE TABLE IF NOT EXISTS public.test_outbox (seq serial PRIMARY KEY, event_id text, "
      "event_type text, key text, payload text)");
  exec("TRUNCATE public.test_outbox RESTART IDENTITY");
}

void PluginDatabaseTest::migrate(const std::string& plugin, std::span<const Migration> migrations) {
  const database::PluginMigrations plugins[] = {{plugin, migrations}};
  database::migrate(*pool_, plugins);
}

void PluginDatabaseTest::exec(const std::string& sql) {
  pool_->transaction([&](pqxx::work& tx) { tx.exec(sql); });
}

std::int64_t PluginDatabaseTest::count(const std::string& sql) {
  std::int64_t n = 0;
  pool_->transaction([&](pqxx::work& tx) { n = tx.exec1(sql)[0].as<std::int64_t>(); });
  return n;
}

std::vector<OutboxRow> PluginDatabaseTest::outboxRows() { return readOutbox(*pool_); }

}  // namespace commsvc::testing
