#include "fault_cluster.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <pqxx/pqxx>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace commsvc::faults {

using namespace std::chrono_literals;
using integration::waitFor;

namespace {

int emailsFromEnvironment(int fallback) {
  const char* text = std::getenv("COMMSVC_FAULT_EMAILS");
  if (text == nullptr || *text == '\0') return fallback;
  return std::max(1, std::atoi(text));
}

}  // namespace

ClaimedRowsLock::ClaimedRowsLock(const std::string& url)
    : connection_(std::make_unique<pqxx::connection>(url)) {
  // A bare transaction: pqxx::work cannot outlive this scope without
  // holding the connection's transaction slot, so BEGIN by hand.
  pqxx::nontransaction tx(*connection_);
  tx.exec("BEGIN");
  rows_ = tx.exec(
                "SELECT id FROM communication_service.emails WHERE status = 'Wird_gesendet' "
                "FOR UPDATE")
              .size();
}

ClaimedRowsLock::~ClaimedRowsLock() {
  try {
    release();
  } catch (const std::exception&) {
  }
}

void ClaimedRowsLock::release() {
  if (!connection_) return;
  {
    pqxx::nontransaction tx(*connection_);
    tx.exec("ROLLBACK");
  }
  connection_.reset();
}

FaultCluster::FaultCluster(const std::string& name, ClusterOptions options)
    : options_(options), dir_(name) {
  options_.emails = emailsFromEnvironment(options_.emails);
  broker_ = std::make_unique<integration::BrokerProcess>(
      dir_, std::vector<std::string>{"events", "events.dlq"}, 3);
  std::vector<std::string> sinkArgs{"--delay-ms", std::to_string(options_.sinkDelayMs)};
  if (options_.smtpAuth) {
    sinkArgs.push_back("--auth");
    sinkArgs.push_back("mailer:fault-secret");
  }
  sink_ = std::make_unique<integration::SmtpSink>(dir_, "smtp", sinkArgs);
  const auto config = writeConfig("migrate");
  const auto [code, out] =
      integration::runCommand({integration::commsvcBinary(), "--plugin-dir",
                               integration::pluginPath(), "migrate", "-c", config.string()});
  if (code != 0) throw std::runtime_error("commsvc migrate failed: " + out);
}

FaultCluster::~FaultCluster() = default;

std::filesystem::path FaultCluster::writeConfig(const std::string& name) {
  const ClusterOptions& o = options_;
  std::ostringstream y;
  y << "plugins: [email, transport-smtp, publisher-kafka]\n"
    << "engine:\n"
    << "  workers: " << o.workers << "\n"
    << "  shutdown_timeout_ms: " << o.shutdownTimeoutMs
    << "\n"
    // Handler retries ride out a database outage of several seconds instead
    // of dead-lettering the event.
    << "  max_retries: 100\n"
    << "  retry_backoff_ms: 100\n"
    << "  retry_backoff_max_ms: 1000\n"
    << "kafka:\n"
    << "  brokers: \"" << broker_->bootstrap() << "\"\n"
    << "  topic: events\n"
    << "  group: communication-service\n"
    << "  dead_letter_topic: events.dlq\n"
    << "  commit_interval_ms: 100\n"
    << "  consumer_properties: { session.timeout.ms: \"6000\", heartbeat.interval.ms: \"500\" }\n"
    << "database:\n"
    << "  url: \"" << postgres_.url() << "\"\n"
    << "  connect_timeout_s: 2\n"
    << "  outbox_backoff_max_ms: 1000\n"
    << "http: { port: 0, address: 127.0.0.1, admin_address: \"127.0.0.1:0\" }\n"
    << "channels:\n"
    << "  smtp:\n"
    << "    type: smtp\n"
    << "    host: 127.0.0.1\n"
    << "    port: " << sink_->port() << "\n"
    << "    tls: none\n"
    << "    pool_size: " << o.smtpPoolSize << "\n"
    << "    connect_timeout_ms: 1000\n"
    << "    timeout_ms: " << o.smtpTimeoutMs << "\n"
    << "    from_address: noreply@example.org\n";
  if (o.smtpAuth) y << "    username: mailer\n    password: fault-secret\n";
  y << "publishers:\n"
    << "  events: { type: kafka, properties: { message.timeout.ms: \"3000\" } }\n"
    << "handlers:\n"
    << "  - event: communication.send_email\n"
    << "    type: email\n"
    << "    channel: smtp\n"
    << "    publisher: events\n"
    << "    queue_check_interval_s: 1\n"
    << "    queue_batch_size: " << o.queueBatchSize << "\n"
    << "    claim_lease_s: " << o.claimLeaseS << "\n"
    << "    max_attempts: " << o.maxAttempts << "\n"
    << "    retry_backoff_s: " << o.retryBackoffS << "\n";
  const auto path = dir_ / (name + ".yaml");
  integration::writeFile(path, y.str());
  return path;
}

std::vector<std::int64_t> FaultCluster::queueEmails() {
  pqxx::connection c(postgres_.url());
  pqxx::work tx(c);
  // Ids drawn first, so that the subject and body can name them: the
  // checker finds the email of every message at the SMTP server by them.
  const pqxx::result rows = tx.exec_params(
      "WITH n AS (SELECT nextval(pg_get_serial_sequence('communication_service.emails', 'id')) "
      "AS id, g FROM generate_series(1, $1) AS g) "
      "INSERT INTO communication_service.emails (id, patient_id, betreff, inhalt_html, "
      "inhalt_text, empfaenger_email, empfaenger_name, absender_email, absender_name, status, "
      "in_warteschlange_am) "
      "SELECT id, 7, 'fault-email-' || id, '<p>Guten Tag, email ' || id || '</p>', "
      "'Guten Tag, email ' || id, 'patient' || id || '@example.org', 'Patient ' || id, "
      "'praxis@example.org', 'Praxis', 'In_Warteschlange', now() + g * interval '1 microsecond' "
      "FROM n ORDER BY g RETURNING id",
      options_.emails);
  tx.commit();
  std::vector<std::int64_t> ids;
  for (const auto& row : rows) ids.push_back(row[0].as<std::int64_t>());
  std::sort(ids.begin(), ids.end());
  return ids;
}

Process& FaultCluster::startInstance(const std::string& name) {
  const auto config = writeConfig(name);
  instances_.push_back({name,
                        std::make_unique<Process>(
                            std::vector<std::string>{integration::commsvcBinary(), "--plugin-dir",
                                                     integration::pluginPath(), "run",
                                                     "--no-migrate", "-c", config.string()},
                            dir_ / (name + ".log")),
                        false});
  Process& p = *instances_.back().process;
  if (!waitFor([&] { return p.log().find("pipeline ready") != std::string::npos; }, 30s)) {
    throw std::runtime_error("instance " + name + " did not start: " + p.log());
  }
  return p;
}

void FaultCluster::startTwoInstances() {
  for (const std::string name : {"a", "b"}) {
    const auto config = writeConfig(name);
    instances_.push_back({name,
                          std::make_unique<Process>(
                              std::vector<std::string>{integration::commsvcBinary(), "--plugin-dir",
                                                       integration::pluginPath(), "run",
                                                       "--no-migrate", "-c", config.string()},
                              dir_ / (name + ".log")),
                          false});
  }
  for (auto& i : instances_) {
    Process& p = *i.process;
    if (!waitFor([&] { return p.log().find("pipeline ready") != std::string::npos; }, 30s)) {
      throw std::runtime_error("instance " + i.name + " did not start: " + p.log());
    }
  }
}

Process& FaultCluster::instance(const std::string& name) {
  for (auto& i : instances_) {
    if (i.name == name) return *i.process;
  }
  throw std::out_of_range("no instance " + name);
}

void FaultCluster::sendEvents(const std::vector<std::int64_t>& ids) {
  std::vector<std::string> lines;
  lines.reserve(ids.size());
  for (std::int64_t id : ids) {
    lines.push_back(std::to_string(id) + "|" +
                    integration::envelope("communication.send_email",
                                          "{\"email_id\":" + std::to_string(id) + "}"));
  }
  integration::produceWithKcat(broker_->bootstrap(), "events", lines, dir_);
}

long FaultCluster::countStatus(const std::string& status) {
  pqxx::connection c(postgres_.url());
  pqxx::work tx(c);
  return tx
      .exec_params1("SELECT count(*) FROM communication_service.emails WHERE status::text = $1",
                    status)[0]
      .as<long>();
}

std::string FaultCluster::statusSummary() {
  try {
    pqxx::connection c(postgres_.url());
    pqxx::work tx(c);
    std::string out;
    for (const auto& row : tx.exec("SELECT status::text, count(*) FROM "
                                   "communication_service.emails GROUP BY 1 ORDER BY 1")) {
      if (!out.empty()) out += ' ';
      out += row[0].as<std::string>() + "=" + row[1].as<std::string>();
    }
    return out;
  } catch (const std::exception& e) {
    return std::string("(database unreachable: ") + e.what() + ")";
  }
}

bool FaultCluster::waitAllSent(long n, std::chrono::milliseconds timeout) {
  return waitFor(
      [&] {
        try {
          // Fehlgeschlagen is final too: no use waiting for those rows.
          return countStatus("Gesendet") + countStatus("Fehlgeschlagen") >= n;
        } catch (const std::exception&) {
          return false;  // the database is down in this scenario
        }
      },
      timeout);
}

FaultCluster::Exit FaultCluster::stop(const std::string& name, int signal,
                                      std::chrono::milliseconds timeout) {
  for (auto& i : instances_) {
    if (i.name != name || i.exited) continue;
    const auto start = std::chrono::steady_clock::now();
    i.process->signal(signal);
    Exit exit;
    exit.code = i.process->wait(timeout);
    exit.took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    if (!exit.code) {
      i.process->signal(SIGKILL);
      i.process->wait(5s);
    }
    i.exited = true;
    return exit;
  }
  throw std::out_of_range("no running instance " + name);
}

void FaultCluster::stopAll(std::chrono::milliseconds timeout) {
  // The outbox drains first: a killed relay's publisher lease is taken over
  // only after it expired and stayed so for a grace (up to ~16 s), and a
  // stopped relay publishes nothing more.
  integration::waitFor(
      [&] {
        try {
          pqxx::connection c(postgres_.url());
          pqxx::work tx(c);
          return tx.exec1("SELECT count(*) FROM public.commsvc_outbox WHERE published_at IS NULL")[0]
                     .as<long>() == 0;
        } catch (const std::exception&) {
          return false;
        }
      },
      std::chrono::seconds(40));
  for (auto& i : instances_) {
    if (!i.exited) i.process->signal(SIGTERM);
  }
  for (auto& i : instances_) {
    if (i.exited) continue;
    const auto code = i.process->wait(timeout);
    EXPECT_EQ(code, 0) << "instance " << i.name << " after SIGTERM\n" << i.process->log();
    if (!code) {
      i.process->signal(SIGKILL);
      i.process->wait(5s);
    }
    i.exited = true;
  }
}

std::pair<double, int> FaultCluster::finalCounter(const std::string& name) const {
  double sum = 0;
  int instances = 0;
  for (const auto& i : instances_) {
    const std::string log = i.process->log();
    const auto line = log.rfind("final counters");
    if (line == std::string::npos) continue;
    ++instances;
    const auto end = log.find('\n', line);
    const std::string text = log.substr(line, end == std::string::npos ? end : end - line);
    const auto at = text.find(" " + name + "=");
    if (at != std::string::npos) sum += std::atof(text.c_str() + at + name.size() + 2);
  }
  return {sum, instances};
}

std::string FaultCluster::logs() const {
  std::string out;
  for (const auto& i : instances_) {
    out += "===== instance " + i.name + " =====\n" + i.process->log();
  }
  return out;
}

}  // namespace commsvc::faults
