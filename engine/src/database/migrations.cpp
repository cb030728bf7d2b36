#include "database/migrations.hpp"

#include <algorithm>
#include <set>

namespace commsvc::database {
namespace {

// Key of the advisory lock every migration transaction takes ("cmsvcmig").
constexpr std::int64_t kLockKey = 0x636d7376636d6967;

void lock(pqxx::work& tx) { tx.exec_params("SELECT pg_advisory_xact_lock($1)", kLockKey); }

std::string joinVersions(const std::vector<std::int32_t>& versions) {
  std::string out;
  for (auto v : versions) out += (out.empty() ? "" : ", ") + std::to_string(v);
  return out;
}

// Versions recorded for `plugin`, ascending. Call with the lock held.
std::vector<std::int32_t> recordedVersions(pqxx::work& tx, const std::string& plugin) {
  std::vector<std::int32_t> versions;
  const auto rows = tx.exec_params(std::string("SELECT version FROM ") + kMigrationsTable +
                                       " WHERE plugin = $1 ORDER BY version",
                                   plugin);
  for (const auto& row : rows) versions.push_back(row[0].as<std::int32_t>());
  return versions;
}

}  // namespace

void checkMigrations(std::span<const PluginMigrations> plugins) {
  std::vector<std::string> problems;
  std::set<std::string> seen;
  for (const auto& p : plugins) {
    if (!seen.insert(p.plugin).second) {
      problems.push_back("plugin '" + p.plugin +
                         "' ships migrations twice (name used by two plugins)");
    }
    std::int32_t previous = 0;
    for (const auto& m : p.migrations) {
      if (m.version <= previous) {
        problems.push_back(
            "plugin '" + p.plugin +
            "': migration versions must be strictly increasing from 1, but version " +
            std::to_string(m.version) + " follows " + std::to_string(previous));
      }
      if (m.sql == nullptr || m.name == nullptr) {
        problems.push_back("plugin '" + p.plugin + "': migration " + std::to_string(m.version) +
                           " has no " + (m.sql == nullptr ? "sql" : "name"));
      }
      previous = std::max(previous, m.version);
    }
  }
  if (problems.empty()) return;
  std::string message = "refusing migrations:";
  for (const auto& p : problems) message += "\n  " + p;
  throw MigrationError(message);
}

std::vector<AppliedMigration> migrate(Database& database, std::span<const PluginMigrations> plugins,
                                      Logger* logger) {
  checkMigrations(plugins);
  std::vector<AppliedMigration> applied;
  const bool any = std::any_of(plugins.begin(), plugins.end(),
                               [](const PluginMigrations& p) { return !p.migrations.empty(); });
  if (!any) return applied;

  database.transaction([](pqxx::work& tx) {
    lock(tx);  // CREATE TABLE IF NOT EXISTS races without it
    tx.exec(std::string("CREATE TABLE IF NOT EXISTS ") + kMigrationsTable +
            " (plugin text NOT NULL, version integer NOT NULL, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (plugin, version))");
  });

  for (const auto& p : plugins) {
    if (p.migrations.empty()) continue;
    std::vector<std::int32_t> recorded;
    database.transaction([&](pqxx::work& tx) {
      lock(tx);
      recorded = recordedVersions(tx, p.plugin);
    });
    std::vector<std::int32_t> unknown;
    for (auto v : recorded) {
      const bool shipped = std::any_of(p.migrations.begin(), p.migrations.end(),
                                       [v](const Migration& m) { return m.version == v; });
      if (!shipped) unknown.push_back(v);
    }
    if (!unknown.empty()) {
      throw MigrationError("plugin '" + p.plugin + "': the database has migration version(s) " +
                           joinVersions(unknown) +
                           " that the plugin does not ship (a downgrade?); refusing to run");
    }
    for (const auto& m : p.migrations) {
      if (std::find(recorded.begin(), recorded.end(), m.version) != recorded.end()) continue;
      bool done = false;
      try {
        database.transaction([&](pqxx::work& tx) {
          lock(tx);
          done = false;
          const auto rows = tx.exec_params(std::string("SELECT 1 FROM ") + kMigrationsTable +
                                               " WHERE plugin = $1 AND version = $2",
                                           p.plugin, m.version);
          if (!rows.empty()) return;  // another process applied it meanwhile
          tx.exec(m.sql);
          tx.exec_params(std::string("INSERT INTO ") + kMigrationsTable +
                             " (plugin, version, name) VALUES ($1, $2, $3)",
                         p.plugin, m.version, std::string(m.name));
          done = true;
        });
      } catch (const std::exception& e) {
        throw MigrationError("plugin '" + p.plugin + "': migration " + std::to_string(m.version) +
                             " (" + m.name + ") failed and was rolled back: " + e.what());
      }
      if (!done) continue;
      applied.push_back({p.plugin, m.version, m.name});
      if (logger != nullptr) {
        logger->info(
            "migration applied",
            {{"plugin", p.plugin}, {"version", std::to_string(m.version)}, {"name", m.name}});
      }
    }
  }
  return applied;
}

}  // namespace commsvc::database
