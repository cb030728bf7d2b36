// Adoption of an existing database (issue 8, SPEC §7): the commsvc binary
// run with `migrate` and `run` on the layout the original service's
// migrations leave (tests/data/original_layout.sql + original_rows.sql), on
// that layout after an earlier failed `commsvc migrate`, after the
// original's first migration only, and on a database made by the previous
// commsvc version (tests/data/commsvc_v1_layout.sql). Rows must survive
// untouched, the enum types end up once each in public, nothing with the
// definition of an existing index or check is added.
#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <set>
#include <sstream>

#include "../support/postgres.hpp"
#include "harness.hpp"

namespace commsvc::integration {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::string dataFile(const std::string& name) {
  return std::string(COMMSVC_SOURCE_DIR) + "/tests/data/" + name;
}

/// A database in one of the states commsvc must adopt, and the service
/// (broker, SMTP server, engine) run on it.
class AdoptedService {
 public:
  explicit AdoptedService(const std::string& name)
      : dir_(name), broker_(dir_, {"events", "events.dlq"}, 1), sink_(dir_, "smtp") {}

  ~AdoptedService() {
    if (engine_) {
      engine_->signal(SIGTERM);
      engine_->wait(15s);
    }
  }

  /// Runs an SQL file of tests/data on the database.
  void lay(const std::string& file) {
    const std::string sql = readFile(dataFile(file));
    if (sql.empty()) throw std::runtime_error("cannot read " + dataFile(file));
    exec(sql);
  }

  /// Runs `sql` (several statements) in one transaction.
  void exec(const std::string& sql) {
    pqxx::connection c(postgres_.url());
    pqxx::work tx(c);
    tx.exec(sql);
    tx.commit();
  }

  /// The first column of every row `sql` returns, as text ("NULL" for NULL).
  std::vector<std::string> column(const std::string& sql) {
    pqxx::connection c(postgres_.url());
    pqxx::work tx(c);
    std::vector<std::string> out;
    for (const auto& row : tx.exec(sql)) {
      out.push_back(row[0].is_null() ? "NULL" : row[0].as<std::string>());
    }
    return out;
  }

  /// Every row of both tables, in full, as JSON text.
  std::vector<std::string> dump() {
    auto rows = column(
        "SELECT 'emails ' || to_jsonb(e)::text FROM communication_service.emails e ORDER BY id");
    for (auto& r : column("SELECT 'telefonanrufe ' || to_jsonb(t)::text "
                          "FROM communication_service.telefonanrufe t ORDER BY id")) {
      rows.push_back(r);
    }
    return rows;
  }

  /// Indexes of both tables: "table name USING-part" each.
  std::set<std::string> indexes() {
    const auto rows = column(
        "SELECT c.relname || ' ' || i.relname || ' ' || "
        "substr(pg_get_indexdef(i.oid), strpos(pg_get_indexdef(i.oid), ' USING ') + 7) "
        "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "JOIN pg_class c ON c.oid = x.indrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'communication_service' "
        "AND c.relname IN ('emails', 'telefonanrufe')");
    return {rows.begin(), rows.end()};
  }

  /// Check constraints of both tables: "table name definition" each.
  std::set<std::string> checks() {
    const auto rows = column(
        "SELECT c.relname || ' ' || k.conname || ' ' || pg_get_constraintdef(k.oid) "
        "FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE k.contype = 'c' AND n.nspname = 'communication_service'");
    return {rows.begin(), rows.end()};
  }

  /// "schema.name" of every type called emailstatus or telefonanrufstatus.
  std::vector<std::string> enumTypes() {
    return column(
        "SELECT n.nspname || '.' || t.typname FROM pg_type t "
        "JOIN pg_namespace n ON n.oid = t.typnamespace "
        "WHERE t.typname IN ('emailstatus', 'telefonanrufstatus') ORDER BY 1");
  }

  /// pipelines.yaml for this service: email (queue processor with a long
  /// retry backoff), phonecall, SMTP, Kafka, HTTP on a free port.
  std::filesystem::path config() {
    std::ostringstream y;
    y << "plugins: [email, phonecall, transport-smtp, publisher-kafka]\n"
      << "kafka:\n"
      << "  brokers: \"" << broker_.bootstrap() << "\"\n"
      << "  topic: events\n  group: communication-service\n  dead_letter_topic: events.dlq\n"
      << "  commit_interval_ms: 100\n"
      << "  consumer_properties: { session.timeout.ms: \"6000\", heartbeat.interval.ms: \"500\" }\n"
      << "database: { url: \"" << postgres_.url() << "\" }\n"
      << "http: { port: 0, address: 127.0.0.1, admin_address: \"127.0.0.1:0\" }\n"
      << "channels:\n"
      << "  smtp: { type: smtp, host: 127.0.0.1, port: " << sink_.port()
      << ", tls: none, from_address: noreply@example.org }\n"
      << "publishers:\n  events: { type: kafka }\n"
      << "handlers:\n"
      << "  - { event: communication.send_email, type: email, channel: smtp, publisher: events,"
      << " retry_backoff_s: 86400 }\n"
      << "  - { event: communication.schedule_call, type: phonecall, publisher: events }\n";
    const auto path = dir_ / "pipelines.yaml";
    writeFile(path, y.str());
    return path;
  }

  /// `commsvc migrate`: exit code and output.
  std::pair<int, std::string> migrate() {
    return runCommand(
        {commsvcBinary(), "--plugin-dir", pluginPath(), "migrate", "-c", config().string()});
  }

  /// Starts `commsvc run` and waits for its HTTP port.
  void run() {
    engine_ = std::make_unique<Process>(
        std::vector<std::string>{commsvcBinary(), "--plugin-dir", pluginPath(), "run", "-c",
                                 config().string()},
        dir_ / "engine.log");
    const bool up = waitFor(
        [&] {
          const auto log = engine_->log();
          if (log.find("pipeline ready") == std::string::npos) return false;
          const auto line = log.find("http server listening");
          if (line == std::string::npos) return false;
          const auto at = log.find("port=", line);
          if (at == std::string::npos) return false;
          port_ = std::atoi(log.c_str() + at + 5);
          return port_ > 0;
        },
        30s);
    if (!up) throw std::runtime_error("engine did not start: " + engine_->log());
  }

  /// GET `path` on the engine's HTTP API: status and parsed body.
  std::pair<int, json> get(const std::string& path) {
    const auto [code, out] = runCommand({"curl", "-s", "-m", "10", "-w", "\n%{http_code}",
                                         "http://127.0.0.1:" + std::to_string(port_) + path});
    if (code != 0) throw std::runtime_error("curl failed: " + out);
    const auto newline = out.rfind('\n');
    return {std::stoi(out.substr(newline + 1)),
            json::parse(out.substr(0, newline), nullptr, false)};
  }

  /// Puts a communication.send_email event for `id` on the topic.
  void sendEmailEvent(long id) {
    produceWithKcat(
        broker_.bootstrap(), "events",
        {std::to_string(id) + "|" +
         envelope("communication.send_email", "{\"email_id\":" + std::to_string(id) + "}")},
        dir_);
  }

  /// The status of email `id`.
  std::string emailStatus(long id) {
    const auto v = column("SELECT status::text FROM communication_service.emails WHERE id = " +
                          std::to_string(id));
    return v.empty() ? "" : v[0];
  }

  /// The ids in the "data" array of a list answer.
  static std::set<long> ids(const json& page) {
    std::set<long> out;
    if (!page.is_object() || !page.contains("data")) return out;
    for (const auto& item : page.at("data")) out.insert(item.at("id").get<long>());
    return out;
  }

  /// The engine's log ("" before run()).
  std::string engineLog() const { return engine_ ? engine_->log() : ""; }

  /// The SMTP server.
  SmtpSink& sink() { return sink_; }

 private:
  testing::TemporaryPostgres postgres_;
  ScratchDir dir_;
  BrokerProcess broker_;
  SmtpSink sink_;
  std::unique_ptr<Process> engine_;
  int port_ = 0;
};

/// The indexes in the lists' orders (email schema 4, phonecall schemas 3
/// and 4):
/// added to every database, adopted or not.
const std::set<std::string> kListIndexes = {
    "emails ix_emails_created_at_id btree (created_at DESC NULLS LAST, id DESC)",
    "emails ix_emails_patient_id_created_at btree (patient_id, created_at DESC NULLS LAST, id "
    "DESC)",
    "emails ix_emails_status_created_at btree (status, created_at DESC NULLS LAST, id DESC)",
    "emails ix_emails_therapist_id_created_at btree (therapist_id, created_at DESC NULLS LAST, id "
    "DESC)",
    "telefonanrufe ix_telefonanrufe_geplant_id btree (geplantes_datum DESC, geplante_zeit DESC, id "
    "DESC)",
    "telefonanrufe ix_telefonanrufe_status_geplant_id btree (status, geplantes_datum DESC, "
    "geplante_zeit DESC, id DESC)"};

/// Migrates a database holding the original's layout and rows twice and
/// checks what the issue asks: exit 0, then nothing pending, rows equal,
/// one enum of each in public, no index or check with an existing one's
/// definition added (only ix_emails_status, which the original lacks, and
/// the list indexes).
void migrateAndCheckAdoption(AdoptedService& svc) {
  const auto rowsBefore = svc.dump();
  const auto indexesBefore = svc.indexes();
  const auto checksBefore = svc.checks();
  ASSERT_FALSE(rowsBefore.empty());

  const auto [code, out] = svc.migrate();
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("applied email 1"), std::string::npos) << out;
  EXPECT_NE(out.find("applied phonecall 1"), std::string::npos) << out;
  const auto [again, againOut] = svc.migrate();
  ASSERT_EQ(again, 0) << againOut;
  EXPECT_NE(againOut.find("no pending migrations"), std::string::npos) << againOut;

  EXPECT_EQ(svc.dump(), rowsBefore);
  EXPECT_EQ(svc.enumTypes(),
            (std::vector<std::string>{"public.emailstatus", "public.telefonanrufstatus"}));
  EXPECT_EQ(svc.checks(), checksBefore);
  std::set<std::string> added;
  for (const auto& i : svc.indexes()) {
    if (!indexesBefore.contains(i)) added.insert(i);
  }
  std::set<std::string> expected = kListIndexes;
  expected.insert("emails ix_emails_status btree (status)");
  EXPECT_EQ(added, expected);
}

/// Runs the service on the adopted database: the queue processor sends the
/// old queued email 1, an event sends the old queued email 5 (held back by
/// its retry backoff from the processor), the API lists the old rows.
void runAndCheckOldRows(AdoptedService& svc) {
  svc.run();
  ASSERT_TRUE(waitFor([&] { return svc.emailStatus(1) == "Gesendet"; }, 20s)) << svc.engineLog();
  EXPECT_EQ(svc.emailStatus(5), "In_Warteschlange");
  svc.sendEmailEvent(5);
  ASSERT_TRUE(waitFor([&] { return svc.emailStatus(5) == "Gesendet"; }, 30s)) << svc.engineLog();
  EXPECT_EQ(svc.sink().count(), 2u);
  EXPECT_EQ(svc.emailStatus(4), "Fehlgeschlagen");

  const auto [emailsCode, emails] = svc.get("/api/emails?limit=100");
  ASSERT_EQ(emailsCode, 200) << emails.dump();
  EXPECT_EQ(AdoptedService::ids(emails), (std::set<long>{1, 2, 3, 4, 5})) << emails.dump();
  const auto [callsCode, calls] = svc.get("/api/phone-calls?limit=100");
  ASSERT_EQ(callsCode, 200) << calls.dump();
  EXPECT_EQ(AdoptedService::ids(calls), (std::set<long>{1, 2, 3})) << calls.dump();
  const auto [oneCode, one] = svc.get("/api/emails/2");
  ASSERT_EQ(oneCode, 200) << one.dump();
  EXPECT_EQ(one.value("status", ""), "Gesendet");
  EXPECT_EQ(one.value("betreff", ""), "Anfrage Therapieplatz");
}

TEST(Adoption, OriginalLayoutIsAdoptedKeptAndServed) {
  AdoptedService svc("adopt-original");
  svc.lay("original_layout.sql");
  svc.lay("original_rows.sql");
  migrateAndCheckAdoption(svc);
  runAndCheckOldRows(svc);
}

TEST(Adoption, AfterAnEarlierFailedMigrateWithOnlyTheEngineTablesRecorded) {
  AdoptedService svc("adopt-engine-only");
  svc.lay("original_layout.sql");
  svc.lay("original_rows.sql");
  // An object holding the name of the index the email plugin adds makes its
  // migration 1 fail after the engine's migrations were applied: the state an
  // earlier commsvc left ("relation emails already exists").
  svc.exec("CREATE TABLE communication_service.ix_emails_status (x integer)");
  const auto [failed, failedOut] = svc.migrate();
  ASSERT_NE(failed, 0) << failedOut;
  EXPECT_NE(failedOut.find("plugin 'email': migration 1"), std::string::npos) << failedOut;
  EXPECT_NE(failedOut.find("ix_emails_status"), std::string::npos) << failedOut;
  EXPECT_EQ(svc.column("SELECT DISTINCT plugin FROM public.commsvc_schema_migrations"),
            std::vector<std::string>{"engine"});
  EXPECT_EQ(svc.column("SELECT to_regclass('public.commsvc_outbox')::text"),
            std::vector<std::string>{"commsvc_outbox"});
  svc.exec("DROP TABLE communication_service.ix_emails_status");

  migrateAndCheckAdoption(svc);
  runAndCheckOldRows(svc);
}

TEST(Adoption, AfterTheOriginalsFirstMigrationOnlyTheMissingColumnIsAdded) {
  AdoptedService svc("adopt-first-only");
  std::string layout = readFile(dataFile("original_layout.sql"));
  std::string firstOnly;
  std::istringstream lines(layout);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("-- original migration 2") == std::string::npos) firstOnly += line + "\n";
  }
  svc.exec(firstOnly);
  svc.lay("original_rows.sql");
  const auto rowsBefore = svc.dump();

  const auto [code, out] = svc.migrate();
  ASSERT_EQ(code, 0) << out;
  EXPECT_EQ(svc.column("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                       "WHERE attrelid = 'communication_service.telefonanrufe'::regclass "
                       "AND attname = 'therapeutenanfrage_id'"),
            std::vector<std::string>{"integer"});
  EXPECT_TRUE(svc.indexes().contains(
      "telefonanrufe ix_telefonanrufe_therapeutenanfrage_id btree (therapeutenanfrage_id)"));
  // The same rows, each with the new column, NULL.
  auto rowsAfter = svc.dump();
  for (auto& r : rowsAfter) {
    const std::string column = ", \"therapeutenanfrage_id\": null";
    const auto at = r.find(column);
    if (at != std::string::npos) r.erase(at, column.size());
  }
  EXPECT_EQ(rowsAfter, rowsBefore);
}

TEST(Adoption, AnEnumLackingOneOfOurLabelsFailsNamingTypeAndLabels) {
  AdoptedService svc("adopt-bad-enum");
  std::string layout = readFile(dataFile("original_layout.sql"));
  const std::string label = "'Wird_gesendet', ";
  layout.erase(layout.find(label), label.size());
  svc.exec(layout);
  const auto [code, out] = svc.migrate();
  ASSERT_NE(code, 0) << out;
  EXPECT_NE(out.find("public.emailstatus lacks the label(s) Wird_gesendet"), std::string::npos)
      << out;
  EXPECT_EQ(
      svc.column("SELECT count(*) FROM pg_enum WHERE enumtypid = 'public.emailstatus'::regtype"),
      std::vector<std::string>{"4"});
}

TEST(Adoption, PreviousCommsvcDatabaseGetsItsTypesMovedToPublic) {
  AdoptedService svc("adopt-v1");
  svc.lay("commsvc_v1_layout.sql");
  EXPECT_EQ(svc.enumTypes(),
            (std::vector<std::string>{"communication_service.emailstatus",
                                      "communication_service.telefonanrufstatus"}));
  const auto rowsBefore = svc.dump();
  const auto indexesBefore = svc.indexes();
  const auto checksBefore = svc.checks();

  const auto [code, out] = svc.migrate();
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("applied email 3"), std::string::npos) << out;
  EXPECT_NE(out.find("applied phonecall 2"), std::string::npos) << out;
  EXPECT_EQ(svc.enumTypes(),
            (std::vector<std::string>{"public.emailstatus", "public.telefonanrufstatus"}));
  EXPECT_EQ(svc.dump(), rowsBefore);
  std::set<std::string> expectedIndexes = indexesBefore;
  expectedIndexes.insert(kListIndexes.begin(), kListIndexes.end());
  EXPECT_EQ(svc.indexes(), expectedIndexes);
  EXPECT_EQ(svc.checks(), checksBefore);
  const auto [again, againOut] = svc.migrate();
  ASSERT_EQ(again, 0) << againOut;
  EXPECT_NE(againOut.find("no pending migrations"), std::string::npos) << againOut;

  svc.run();
  ASSERT_TRUE(waitFor([&] { return svc.emailStatus(1) == "Gesendet"; }, 20s)) << svc.engineLog();
  const auto [callsCode, calls] = svc.get("/api/phone-calls?limit=100");
  ASSERT_EQ(callsCode, 200) << calls.dump();
  EXPECT_EQ(AdoptedService::ids(calls), (std::set<long>{1})) << calls.dump();
}

}  // namespace
}  // namespace commsvc::integration
