#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "commsvc/database.hpp"
#include "commsvc/logger.hpp"
#include "commsvc/plugin.hpp"

namespace commsvc::database {

/// The table that records applied migrations.
inline constexpr const char* kMigrationsTable = "public.commsvc_schema_migrations";

/// The migrations one plugin ships, in the order it ships them.
struct PluginMigrations {
  std::string plugin;                     ///< the plugin's name (PluginInfo::name)
  std::span<const Migration> migrations;  ///< its descriptor's array
};

/// One migration applied by migrate().
struct AppliedMigration {
  std::string plugin;                ///< whose migration
  std::int32_t version;              ///< its version
  std::string name;                  ///< its description
  std::vector<std::string> notices;  ///< the NOTICEs its SQL raised, in order
};

/// Thrown when migrations are refused (bad versions, a downgrade) or one
/// fails; the message names the plugin and the versions.
class MigrationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// SQL that (re)creates, in schema public, the helper functions plugin
/// migrations may call to adopt objects that already exist (see Migration
/// in commsvc/plugin.hpp): commsvc_ensure_enum, commsvc_ensure_index and
/// commsvc_ensure_check. Idempotent (CREATE OR REPLACE); migrate() runs it
/// before applying any pending migration, so the helpers always match the
/// running binary.
const char* migrationHelpersSql();

/// Checks what plugins ship, without a database: versions >= 1 and strictly
/// increasing per plugin, a name and SQL on every migration, no plugin name
/// twice. Throws MigrationError listing every problem.
void checkMigrations(std::span<const PluginMigrations> plugins);

/// Applies every pending migration of `plugins`, per plugin in version
/// order, each in its own transaction together with its row in
/// kMigrationsTable (created when missing). Every transaction holds a
/// transaction-level advisory lock, so concurrent runs apply each migration
/// exactly once. Refuses (MigrationError) what checkMigrations refuses and a
/// database that recorded a version a plugin no longer ships. A failing
/// migration is rolled back, not recorded, and reported as MigrationError;
/// those applied before it stay. Before the first pending migration it
/// (re)creates the helpers of migrationHelpersSql(). Logs every applied
/// migration with the NOTICEs it raised (e.g. "relation ... already exists,
/// skipping", "commsvc: index ... not created: ... has the same
/// definition"), so adopting an existing schema is visible. Returns what
/// this call applied.
std::vector<AppliedMigration> migrate(Database& database, std::span<const PluginMigrations> plugins,
                                      Logger* logger = nullptr);

}  // namespace commsvc::database
