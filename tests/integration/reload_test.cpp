// Pipeline reload under load (issue 10): SIGHUP and POST /admin/reload swap
// the pipeline between records. The mock channel's output file is switched
// by a reload while send_email events for 600 queued emails arrive in
// batches; a broken file is refused and changes nothing; every email is
// delivered exactly once across the two files, by one process.
#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <set>
#include <thread>

#include "api_service.hpp"
#include "harness.hpp"

namespace commsvc::integration {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

constexpr int kEmails = 600;
constexpr int kBatches = 6;

/// Queues `n` emails (subject "reload-<id>") and returns their ids. Each
/// counts as retried once a moment ago, so the queue processor (woken by the
/// insert) leaves them to their retry backoff (30 s by default) and they go
/// out through the send_email events the test produces around each reload;
/// otherwise the processor could drain all of them before the first reload.
std::vector<std::int64_t> queueEmails(const std::string& url, int n) {
  pqxx::connection c(url);
  pqxx::work tx(c);
  const auto rows = tx.exec_params(
      "INSERT INTO communication_service.emails (patient_id, betreff, inhalt_html, inhalt_text,"
      " empfaenger_email, empfaenger_name, absender_email, absender_name, status,"
      " wiederholungsanzahl, in_warteschlange_am, created_at, updated_at)"
      " SELECT 7, 'reload', '<p>Hallo</p>', 'Hallo', 'p' || g || '@example.org', 'P', "
      "'praxis@example.org', 'Praxis', 'In_Warteschlange', 1, now(), now(), now()"
      " FROM generate_series(1, $1) AS g RETURNING id",
      n);
  tx.exec("UPDATE communication_service.emails SET betreff = 'reload-' || id");
  tx.commit();
  std::vector<std::int64_t> ids;
  for (const auto& row : rows) ids.push_back(row[0].as<std::int64_t>());
  return ids;
}

long countSent(const std::string& url) {
  pqxx::connection c(url);
  pqxx::work tx(c);
  return tx
      .exec1("SELECT count(*) FROM communication_service.emails WHERE status::text = 'Gesendet'")[0]
      .as<long>();
}

/// Email id -> deliveries, from a mock channel file.
std::map<std::int64_t, int> deliveries(const std::filesystem::path& file) {
  std::map<std::int64_t, int> out;
  for (const auto& line : readLines(file)) {
    const auto message = json::parse(line, nullptr, false);
    if (message.is_discarded()) continue;
    const std::string subject = message.value("subject", "");
    if (subject.rfind("reload-", 0) == 0) ++out[std::stoll(subject.substr(7))];
  }
  return out;
}

/// The value of a metric line `name` in the /metrics text, -1 when absent.
double metric(const std::string& text, const std::string& name) {
  const auto at = text.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + name.size() + 2));
}

/// The admin listener's port from the engine's log, 0 when not logged yet.
int adminPort(const std::string& log) {
  const auto line = log.find("admin listener ready");
  if (line == std::string::npos) return 0;
  const auto at = log.find("port=", line);
  return at == std::string::npos ? 0 : std::stoi(log.substr(at + 5));
}

class ReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    api_ = std::make_unique<ApiService>(
        ApiServiceOptions{.name = "reload", .mockChannel = true, .queueCheckIntervalS = 3600});
    config_ = api_->dir_ / "api.yaml";
    first_ = readFile(config_);
    const std::string from = (api_->dir_ / "outbox.jsonl").string();
    second_ = first_;
    second_.replace(second_.find(from), from.size(), (api_->dir_ / "outbox-b.jsonl").string());
    ids_ = queueEmails(api_->postgres_.url(), kEmails);
    ASSERT_EQ(ids_.size(), static_cast<std::size_t>(kEmails));
  }

  /// Produces the send_email events of batch `i` (of kBatches).
  void sendBatch(int i) {
    std::vector<std::string> lines;
    const std::size_t per = ids_.size() / kBatches;
    for (std::size_t k = i * per; k < (i + 1) * per; ++k) {
      const std::string id = std::to_string(ids_[k]);
      lines.push_back(id + "|" + envelope("communication.send_email", "{\"email_id\":" + id + "}"));
    }
    produceWithKcat(api_->broker_.bootstrap(), "events", lines, api_->dir_);
  }

  /// Sends batch 0 and waits until some of it went through the first file
  /// (the consumer joined its group), then sends batch 1.
  void startSending() {
    sendBatch(0);
    ASSERT_TRUE(waitFor([&] { return !deliveries(api_->dir_ / "outbox.jsonl").empty(); }, 60s))
        << api_->log();
    sendBatch(1);
  }

  /// Waits until the log holds `n` lines containing `what`.
  bool awaitLog(const std::string& what, std::size_t n) {
    return waitFor([&] { return occurrences(api_->log(), what) >= n; }, 60s);
  }

  /// After the run: every email sent once over the two files, both used.
  void expectEachDeliveredOnce() {
    ASSERT_TRUE(waitFor([&] { return countSent(api_->postgres_.url()) == kEmails; }, 90s))
        << countSent(api_->postgres_.url()) << " of " << kEmails << " sent\n"
        << api_->log();
    const auto a = deliveries(api_->dir_ / "outbox.jsonl");
    const auto b = deliveries(api_->dir_ / "outbox-b.jsonl");
    EXPECT_FALSE(a.empty()) << "nothing went through the first file";
    EXPECT_FALSE(b.empty()) << "nothing went through the second file";
    std::size_t twice = 0;
    std::size_t missing = 0;
    for (const auto id : ids_) {
      const int n = (a.count(id) ? a.at(id) : 0) + (b.count(id) ? b.at(id) : 0);
      if (n == 0) ++missing;
      if (n > 1) ++twice;
    }
    EXPECT_EQ(missing, 0u) << "emails never delivered";
    EXPECT_EQ(twice, 0u) << "emails delivered twice";
    std::cout << "[ reload ] first file " << a.size() << ", second file " << b.size()
              << " emails\n";
  }

  std::unique_ptr<ApiService> api_;
  std::filesystem::path config_;
  std::string first_;
  std::string second_;
  std::vector<std::int64_t> ids_;
};

TEST_F(ReloadTest, SighupSwitchesTheChannelBetweenRecordsLosingAndRepeatingNothing) {
  const pid_t pid = api_->engine_->pid();
  ASSERT_NO_FATAL_FAILURE(startSending());
  writeFile(config_, second_);
  api_->engine_->signal(SIGHUP);  // while batch 1 is being handled
  sendBatch(2);
  ASSERT_TRUE(awaitLog("pipeline reloaded", 1)) << api_->log();
  sendBatch(3);
  writeFile(config_, second_ + "no_such_section: 1\n");
  api_->engine_->signal(SIGHUP);
  ASSERT_TRUE(awaitLog("pipeline reload refused", 1)) << api_->log();
  EXPECT_NE(api_->log().find("no_such_section"), std::string::npos) << "the refusal names the key";
  sendBatch(4);
  writeFile(config_, second_);
  api_->engine_->signal(SIGHUP);
  ASSERT_TRUE(awaitLog("pipeline reloaded", 2)) << api_->log();
  sendBatch(5);
  expectEachDeliveredOnce();
  EXPECT_TRUE(api_->alive());
  EXPECT_EQ(api_->engine_->pid(), pid);
  EXPECT_EQ(occurrences(api_->log(), "pipeline ready"), 1u) << "the process restarted";
  const auto [status, body] = api_->call("GET", "/metrics");
  const std::string text = body.is_string() ? body.get<std::string>() : body.dump();
  EXPECT_EQ(metric(text, "config_reloads_total{result=\"failed\"}"), 1) << text;
  EXPECT_EQ(metric(text, "config_reloads_total{result=\"ok\"}"), 2) << text;
  EXPECT_EQ(metric(text, "config_last_reload_successful"), 1);
  EXPECT_EQ(api_->stop(), 0);
}

TEST_F(ReloadTest, AdminReloadDoesTheSameAndRefusesWhatNeedsARestart) {
  int port = 0;
  ASSERT_TRUE(waitFor([&] { return (port = adminPort(api_->log())) != 0; }, 10s)) << api_->log();
  const auto reload = [&] {
    const auto [code, out] =
        runCommand({"curl", "-s", "-m", "60", "-X", "POST", "-w", "\n%{http_code}",
                    "http://127.0.0.1:" + std::to_string(port) + "/admin/reload"});
    EXPECT_EQ(code, 0) << out;
    const auto newline = out.rfind('\n');
    return std::make_pair(std::stoi(out.substr(newline + 1)),
                          json::parse(out.substr(0, newline), nullptr, false));
  };
  EXPECT_EQ(api_->call("POST", "/admin/reload").first, 404) << "the public port serves /admin";
  const auto [readyStatus, readyBefore] = api_->call("GET", "/readyz");
  const std::string hashBefore = readyBefore.value("config", "");
  EXPECT_EQ(hashBefore.size(), 64u) << readyBefore.dump();

  ASSERT_NO_FATAL_FAILURE(startSending());
  writeFile(config_, second_);
  auto [status, answer] = reload();
  EXPECT_EQ(status, 200) << answer.dump();
  EXPECT_EQ(answer.value("result", ""), "ok");
  EXPECT_NE(answer.value("config", ""), hashBefore);
  EXPECT_EQ(api_->call("GET", "/readyz").second.value("config", ""), answer.value("config", ""));
  sendBatch(2);
  sendBatch(3);
  std::string moved = second_;
  const std::string brokers = api_->broker_.bootstrap();
  moved.replace(moved.find(brokers), brokers.size(), "127.0.0.1:1");
  writeFile(config_, moved);
  std::tie(status, answer) = reload();
  EXPECT_EQ(status, 422) << answer.dump();
  EXPECT_NE(answer.value("message", "").find("a restart is needed to apply kafka.brokers"),
            std::string::npos)
      << answer.dump();
  sendBatch(4);
  writeFile(config_, second_);
  sendBatch(5);
  expectEachDeliveredOnce();
  const auto [metricsStatus, body] = api_->call("GET", "/metrics");
  const std::string text = body.is_string() ? body.get<std::string>() : body.dump();
  EXPECT_EQ(metric(text, "config_reloads_total{result=\"failed\"}"), 1) << text;
  EXPECT_EQ(metric(text, "config_reloads_total{result=\"ok\"}"), 1) << text;
  EXPECT_EQ(api_->stop(), 0);
}

}  // namespace
}  // namespace commsvc::integration
