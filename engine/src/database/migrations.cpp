#include "database/migrations.hpp"

#include <algorithm>
#include <set>
#include <string_view>

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

// Collects the NOTICEs the server sends on one connection while it lives
// (e.g. "relation ... already exists, skipping"), without the "NOTICE:  "
// prefix and the trailing newline, and keeps them from other handlers.
class NoticeCollector : public pqxx::errorhandler {
 public:
  explicit NoticeCollector(pqxx::connection_base& connection) : pqxx::errorhandler(connection) {}

  bool operator()(const char message[]) noexcept override {
    try {
      std::string_view m(message);
      constexpr std::string_view kPrefix = "NOTICE:  ";
      if (m.substr(0, kPrefix.size()) == kPrefix) m.remove_prefix(kPrefix.size());
      while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.remove_suffix(1);
      notices.emplace_back(m);
    } catch (...) {
      // out of memory: the notice is lost, the migration is not
    }
    return false;
  }

  std::vector<std::string> notices;
};

std::string joinNotices(const std::vector<std::string>& notices) {
  std::string out;
  for (const auto& n : notices) out += (out.empty() ? "" : "; ") + n;
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

// The helpers plugin migrations call to adopt a schema that exists already
// (one made by the service commsvc replaces, or by an older commsvc).
// Canonical definitions come from PostgreSQL itself: a wanted index or check
// is first built on an empty temporary copy of the table (a probe), so that
// comparing with the table's own (pg_get_indexdef from " USING ",
// pg_get_constraintdef) never depends on how the SQL was spelled, and the
// real table is touched only when nothing equivalent exists.
constexpr const char* kHelpersSql = R"sql(
CREATE OR REPLACE FUNCTION public.commsvc_ensure_enum(
    typ_schema text, typ_name text, labels text[], move_from text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql AS $commsvc$
DECLARE
  here oid;
  there oid;
  outcome text := 'existing';
  missing text[];
BEGIN
  SELECT t.oid INTO here FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
   WHERE n.nspname = typ_schema AND t.typname = typ_name;
  IF move_from IS NOT NULL THEN
    SELECT t.oid INTO there FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE n.nspname = move_from AND t.typname = typ_name;
  END IF;
  IF here IS NULL AND there IS NOT NULL THEN
    EXECUTE format('ALTER TYPE %I.%I SET SCHEMA %I', move_from, typ_name, typ_schema);
    RAISE NOTICE 'commsvc: moved type %.% to schema %', move_from, typ_name, typ_schema;
    here := there;
    outcome := 'moved';
  ELSIF here IS NULL THEN
    EXECUTE format('CREATE TYPE %I.%I AS ENUM (%s)', typ_schema, typ_name,
                   (SELECT string_agg(quote_literal(l), ', ' ORDER BY o)
                      FROM unnest(labels) WITH ORDINALITY AS u(l, o)));
    RETURN 'created';
  ELSIF there IS NOT NULL THEN
    IF EXISTS (SELECT 1 FROM pg_attribute a JOIN pg_type t ON t.oid = there
                WHERE NOT a.attisdropped AND a.atttypid IN (t.oid, t.typarray)) THEN
      RAISE EXCEPTION 'commsvc: type % exists in schema % and in schema %, and columns use the one in %; commsvc will not choose: move those columns to %.% and drop %.% by hand',
        typ_name, typ_schema, move_from, move_from, typ_schema, typ_name, move_from, typ_name;
    END IF;
    RAISE NOTICE 'commsvc: type %.% exists and is unused; kept, %.% is used', move_from, typ_name,
      typ_schema, typ_name;
  END IF;
  IF (SELECT typtype FROM pg_type WHERE oid = here) <> 'e' THEN
    RAISE EXCEPTION 'commsvc: type %.% exists but is not an enum', typ_schema, typ_name;
  END IF;
  SELECT array_agg(l ORDER BY o) INTO missing FROM unnest(labels) WITH ORDINALITY AS u(l, o)
   WHERE NOT EXISTS (SELECT 1 FROM pg_enum e WHERE e.enumtypid = here AND e.enumlabel = u.l);
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION 'commsvc: enum type %.% lacks the label(s) % that commsvc needs; commsvc never alters an existing type: add them (ALTER TYPE %.% ADD VALUE ...) and migrate again',
      typ_schema, typ_name, array_to_string(missing, ', '), typ_schema, typ_name;
  END IF;
  RETURN outcome;
END
$commsvc$;

CREATE OR REPLACE FUNCTION public.commsvc_probe(tbl regclass) RETURNS regclass
LANGUAGE plpgsql AS $commsvc$
BEGIN
  IF to_regclass('pg_temp.commsvc_probe') IS NOT NULL THEN
    DROP TABLE pg_temp.commsvc_probe;
  END IF;
  EXECUTE format('CREATE TEMPORARY TABLE commsvc_probe (LIKE %s)', tbl);
  RETURN 'pg_temp.commsvc_probe'::regclass;
END
$commsvc$;

CREATE OR REPLACE FUNCTION public.commsvc_index_tail(idx oid) RETURNS text
LANGUAGE sql STABLE AS $commsvc$
  SELECT substr(d, strpos(d, ' USING ') + 7) FROM pg_get_indexdef(idx) AS d
$commsvc$;

CREATE OR REPLACE FUNCTION public.commsvc_ensure_index(tbl regclass, idx_name text, definition text)
RETURNS boolean LANGUAGE plpgsql AS $commsvc$
DECLARE
  spec text;
  probe regclass;
  wanted text;
  same text;
  taken text;
BEGIN
  spec := CASE WHEN ltrim(definition) LIKE '(%' OR ltrim(definition) ILIKE 'using %'
               THEN definition ELSE 'USING ' || definition END;
  probe := public.commsvc_probe(tbl);
  EXECUTE format('CREATE INDEX commsvc_probe_idx ON %s %s', probe, spec);
  SELECT public.commsvc_index_tail(i.indexrelid) INTO wanted FROM pg_index i WHERE i.indrelid = probe;
  DROP TABLE pg_temp.commsvc_probe;
  SELECT c.relname INTO same FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
   WHERE i.indrelid = tbl AND i.indisvalid AND public.commsvc_index_tail(i.indexrelid) = wanted
   ORDER BY (c.relname <> idx_name) LIMIT 1;
  IF same IS NOT NULL THEN
    IF same <> idx_name THEN
      RAISE NOTICE 'commsvc: index % on % not created: % has the same definition (%)', idx_name,
        tbl, same, wanted;
    END IF;
    RETURN false;
  END IF;
  SELECT c.oid::regclass::text INTO taken FROM pg_class c
   WHERE c.relname = idx_name AND c.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = tbl);
  IF taken IS NOT NULL THEN
    RAISE EXCEPTION 'commsvc: cannot create index % on % (%): that name is taken by another object',
      idx_name, tbl, wanted;
  END IF;
  EXECUTE format('CREATE INDEX %I ON %s %s', idx_name, tbl, spec);
  RETURN true;
END
$commsvc$;

CREATE OR REPLACE FUNCTION public.commsvc_check_def(con oid) RETURNS text
LANGUAGE sql STABLE AS $commsvc$
  SELECT CASE WHEN d LIKE '% NOT VALID' THEN left(d, -10) ELSE d END
    FROM pg_get_constraintdef(con) AS d
$commsvc$;

CREATE OR REPLACE FUNCTION public.commsvc_ensure_check(tbl regclass, con_name text, expression text)
RETURNS boolean LANGUAGE plpgsql AS $commsvc$
DECLARE
  probe regclass;
  wanted text;
  same text;
BEGIN
  probe := public.commsvc_probe(tbl);
  EXECUTE format('ALTER TABLE %s ADD CONSTRAINT commsvc_probe_check CHECK (%s) NOT VALID', probe,
                 expression);
  SELECT public.commsvc_check_def(c.oid) INTO wanted FROM pg_constraint c
   WHERE c.conrelid = probe AND c.contype = 'c';
  DROP TABLE pg_temp.commsvc_probe;
  SELECT c.conname INTO same FROM pg_constraint c
   WHERE c.conrelid = tbl AND c.contype = 'c' AND public.commsvc_check_def(c.oid) = wanted
   ORDER BY (c.conname <> con_name) LIMIT 1;
  IF same IS NOT NULL THEN
    IF same <> con_name THEN
      RAISE NOTICE 'commsvc: check % on % not added: % has the same definition (%)', con_name, tbl,
        same, wanted;
    END IF;
    RETURN false;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid = tbl AND c.conname = con_name) THEN
    RAISE EXCEPTION 'commsvc: cannot add check % on % (%): a constraint of that name exists with another definition',
      con_name, tbl, wanted;
  END IF;
  EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I CHECK (%s)', tbl, con_name, expression);
  RETURN true;
END
$commsvc$;
)sql";

}  // namespace

const char* migrationHelpersSql() { return kHelpersSql; }

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

  // Every plugin's recorded versions first: a downgrade is refused before
  // anything is applied.
  std::vector<std::vector<std::int32_t>> recordedPerPlugin;
  bool pending = false;
  for (const auto& p : plugins) {
    std::vector<std::int32_t> recorded;
    if (!p.migrations.empty()) {
      database.transaction([&](pqxx::work& tx) {
        lock(tx);
        recorded = recordedVersions(tx, p.plugin);
      });
    }
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
    pending = pending || recorded.size() < p.migrations.size();
    recordedPerPlugin.push_back(std::move(recorded));
  }
  if (!pending) return applied;

  try {
    database.transaction([](pqxx::work& tx) {
      lock(tx);
      tx.exec(migrationHelpersSql());
    });
  } catch (const std::exception& e) {
    throw MigrationError(std::string("could not create the migration helper functions: ") +
                         e.what());
  }

  for (std::size_t i = 0; i < plugins.size(); ++i) {
    const auto& p = plugins[i];
    const auto& recorded = recordedPerPlugin[i];
    for (const auto& m : p.migrations) {
      if (std::find(recorded.begin(), recorded.end(), m.version) != recorded.end()) continue;
      bool done = false;
      std::vector<std::string> notices;
      try {
        database.transaction([&](pqxx::work& tx) {
          lock(tx);
          done = false;
          const auto rows = tx.exec_params(std::string("SELECT 1 FROM ") + kMigrationsTable +
                                               " WHERE plugin = $1 AND version = $2",
                                           p.plugin, m.version);
          if (!rows.empty()) return;  // another process applied it meanwhile
          NoticeCollector collector(tx.conn());
          tx.exec(m.sql);
          notices = std::move(collector.notices);
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
      applied.push_back({p.plugin, m.version, m.name, notices});
      if (logger != nullptr) {
        if (notices.empty()) {
          logger->info(
              "migration applied",
              {{"plugin", p.plugin}, {"version", std::to_string(m.version)}, {"name", m.name}});
        } else {
          // Existing objects were found and kept (adopted) or moved.
          logger->info("migration applied; it found existing objects and kept them",
                       {{"plugin", p.plugin},
                        {"version", std::to_string(m.version)},
                        {"name", m.name},
                        {"notices", joinNotices(notices)}});
        }
      }
    }
  }
  return applied;
}

}  // namespace commsvc::database
