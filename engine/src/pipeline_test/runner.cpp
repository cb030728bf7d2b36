#include "pipeline_test/runner.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <sstream>
#include <thread>

#include "app/engine.hpp"
#include "app/pipeline.hpp"
#include "commsvc/event.hpp"
#include "kafka/producer.hpp"
#include "logging/log.hpp"
#include "pipeline_test/expectations.hpp"
#include "pipeline_test/kafka_probe.hpp"
#include "pipeline_test/log_capture.hpp"
#include "pipeline_test/pipeline_rewrite.hpp"
#include "pipeline_test/postgres.hpp"
#include "pipeline_test/test_file.hpp"

namespace commsvc::pipeline_test {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr std::chrono::milliseconds kPollInterval{100};
// Once everything expected is there and every input is committed, wait this
// much longer for what should not come (a second email, an extra event).
constexpr std::chrono::milliseconds kSettle{500};
constexpr std::size_t kMaxLogLines = 300;

const KindNames kMessageNames{"messages", "channel message"};
const KindNames kEventNames{"events", "published event"};
const KindNames kDeadLetterNames{"dead_letters", "dead letter"};
const KindNames kLogNames{"logs", "log line"};

/// What a case recorded so far.
struct Observed {
  std::vector<json> messages;
  std::vector<json> events;
  std::vector<json> deadLetters;
  std::vector<json> logs;
  std::vector<std::vector<json>> queryRows;  // parallel to expect.queries
  std::vector<std::string> queryErrors;      // "" when the query ran
};

/// The outcome of matching a case's expectations against what it recorded.
struct Evaluation {
  bool found = true;              // every expected item is there (extras aside)
  std::vector<std::string> diff;  // empty when the case passes
};

/// The outcome of one case.
struct CaseOutcome {
  bool passed = false;
  bool stuck = false;  // a handler never returned: the engine was not destroyed
  std::vector<std::string> details;
  std::vector<json> log;
  std::string keptDir;
};

std::string place(const std::string& file, int line, int column = 0) {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line);
  if (line > 0 && column > 0) out += ":" + std::to_string(column);
  return out;
}

// Complete JSON lines of `file` (a line still being written is left for
// the next read).
std::vector<json> readJsonLines(const std::string& file) {
  std::vector<json> out;
  std::ifstream in(file, std::ios::binary);
  std::string line;
  while (std::getline(in, line)) {
    if (in.eof()) break;
    json parsed = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_discarded()) out.push_back(std::move(parsed));
  }
  return out;
}

std::string text(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

json messageItem(const std::string& channel, const json& line) {
  return {{"channel", channel},
          {"id", text(line, "id")},
          {"from", text(line, "from")},
          {"from_name", text(line, "fromName")},
          {"to", text(line, "to")},
          {"to_name", text(line, "toName")},
          {"subject", text(line, "subject")},
          {"text", text(line, "textBody")},
          {"html", text(line, "htmlBody")}};
}

json eventItem(const std::string& publisher, const json& line) {
  const json envelope = line.value("envelope", json::object());
  json item = {{"publisher", publisher},
               {"type", text(envelope, "eventType")},
               {"key", text(line, "key")},
               {"producer", text(envelope, "producer")},
               {"id", text(envelope, "eventId")}};
  item["payload"] = envelope.contains("payload") ? envelope["payload"] : json(nullptr);
  return item;
}

json deadLetterItem(const kafka::Record& record) {
  json headers = json::object();
  for (const auto& [name, value] : record.headers) headers[name] = value;
  json item = json::object();
  const auto header = [&](const char* name, const char* field) {
    if (headers.contains(name)) item[field] = headers[name];
  };
  header("x-dlq-reason", "reason");
  header("x-dlq-detail", "detail");
  item["key"] = record.key;
  item["value"] = record.value;
  header("x-dlq-source-topic", "topic");
  item["headers"] = headers;
  return item;
}

// The rows of `sql`, each as {column: text or null}; with `positional` the
// columns are named "#1", "#2", ... by position.
std::vector<json> runQuery(pqxx::connection& connection, const std::string& sql, bool positional) {
  pqxx::nontransaction work(connection);
  const pqxx::result result = work.exec(sql);
  std::vector<json> rows;
  for (const auto& row : result) {
    json item = json::object();
    for (pqxx::row::size_type i = 0; i < row.size(); ++i) {
      const std::string name =
          positional ? "#" + std::to_string(i + 1) : std::string(result.column_name(i));
      item[name] = row[i].is_null() ? json(nullptr) : json(row[i].c_str());
    }
    rows.push_back(std::move(item));
  }
  return rows;
}

void addKind(Evaluation& evaluation, const KindExpectation& expectation, bool strict,
             const std::vector<json>& actual, const KindNames& names, const std::string& file) {
  if (!expectation.given) return;
  const MatchResult result = matchItems(expectation.items, actual);
  if (!result.allFound()) evaluation.found = false;
  const auto lines = diffKind(expectation, strict, actual, result, names, file);
  evaluation.diff.insert(evaluation.diff.end(), lines.begin(), lines.end());
}

Evaluation evaluate(const TestCase& c, const Observed& observed, const std::string& file) {
  Evaluation e;
  addKind(e, c.expect.messages, true, observed.messages, kMessageNames, file);
  addKind(e, c.expect.events, true, observed.events, kEventNames, file);
  addKind(e, c.expect.deadLetters, true, observed.deadLetters, kDeadLetterNames, file);
  addKind(e, c.expect.logs, false, observed.logs, kLogNames, file);
  for (std::size_t i = 0; i < c.expect.queries.size(); ++i) {
    const QueryExpectation& q = c.expect.queries[i];
    const std::string where =
        "expect.queries[" + std::to_string(i) + "] (" + place(file, q.line, q.column) + ")";
    if (i >= observed.queryRows.size()) {
      e.found = false;
      e.diff.push_back(where + ": not run");
      continue;
    }
    if (!observed.queryErrors[i].empty()) {
      e.found = false;
      e.diff.push_back(where + ": the query failed: " + observed.queryErrors[i]);
      continue;
    }
    const auto lines = diffRows(q.rows, observed.queryRows[i]);
    if (lines.empty()) continue;
    e.found = false;
    e.diff.push_back(where + ": " + q.sql);
    for (const auto& line : lines) e.diff.push_back("  " + line);
  }
  return e;
}

config::EnvLookup environmentOf(const TestCase& c) {
  return [env = c.env, pass = c.passEnv](std::string_view name) -> std::optional<std::string> {
    if (const auto it = env.find(std::string(name)); it != env.end()) return it->second;
    if (std::find(pass.begin(), pass.end(), name) != pass.end()) {
      if (const char* value = std::getenv(std::string(name).c_str())) return std::string(value);
    }
    return std::nullopt;
  };
}

// An error text without its trailing newlines (libpq ends them with one).
std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

std::string makeWorkDir() {
  std::string pattern = (fs::temp_directory_path() / "commsvc-test-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

std::string readFirstLine(const std::string& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  return line;
}

/// Runs the cases of all files, sharing the log capture and the throw-away
/// PostgreSQL server (started on first need).
class Runner {
 public:
  Runner(const RunOptions& options, const std::atomic<bool>& interrupted)
      : options_(options),
        interrupted_(interrupted),
        capture_(std::min(options.logLevel, LogLevel::Info)) {}

  CaseOutcome run(const TestFile& file, const TestCase& c) {
    CaseOutcome outcome;
    std::string workDir;
    try {
      workDir = makeWorkDir();
      runIn(workDir, file, c, outcome);
    } catch (const std::exception& e) {
      outcome.passed = false;
      outcome.details.push_back("error: " + trimmed(e.what()));
    }
    outcome.log = capture_.lines();
    capture_.clear();
    if (!workDir.empty()) {
      if (options_.keep) {
        outcome.keptDir = workDir;
      } else {
        std::error_code ec;
        fs::remove_all(workDir, ec);
      }
    }
    return outcome;
  }

 private:
  // The database URL of a case: a fresh database on the throw-away server,
  // or "" for none/pipeline.
  std::string databaseFor(const TestCase& c) {
    if (c.database != DatabaseMode::Postgres) return "";
    if (!postgresError_.empty()) throw std::runtime_error(postgresError_);
    if (!postgres_) {
      try {
        postgres_ = std::make_unique<ThrowawayPostgres>();
      } catch (const std::exception& e) {
        postgresError_ = std::string("cannot start the throw-away PostgreSQL: ") + e.what();
        throw std::runtime_error(postgresError_);
      }
    }
    return postgres_->createDatabase("case_" + std::to_string(++databases_));
  }

  void fail(CaseOutcome& outcome, const std::string& what, const config::ConfigErrors& errors,
            const std::string& rewritten, const std::string& original) {
    outcome.details.push_back(what);
    for (const auto& p : errors.problems()) {
      outcome.details.push_back("  " + mapProblem(p, rewritten, original).toString());
    }
  }

  void runIn(const std::string& workDir, const TestFile& file, const TestCase& c,
             CaseOutcome& outcome) {
    // The pipeline with its ends replaced.
    RewriteOptions rewrite;
    rewrite.workDir = workDir;
    for (const auto& [name, line] : c.real) rewrite.real.push_back(name);
    rewrite.partitions = c.partitions;
    rewrite.databaseUrl = databaseFor(c);
    rewrite.keepDatabase = c.database == DatabaseMode::Pipeline;
    const RewrittenPipeline rewritten = rewritePipeline(file.pipeline, rewrite);
    const std::string pipelinePath = workDir + "/pipeline.yaml";
    {
      std::ofstream out(pipelinePath, std::ios::trunc);
      out << rewritten.text;
      if (!out) throw std::runtime_error("cannot write " + pipelinePath);
    }

    std::optional<app::ValidatedPipeline> validated;
    try {
      validated.emplace(app::validatePipeline(pipelinePath, options_.pluginDirs, environmentOf(c)));
    } catch (const config::ConfigErrors& e) {
      fail(outcome, "the pipeline does not validate with this case's environment:", e, pipelinePath,
           file.pipeline);
      return;
    }
    const config::Settings settings = validated->config.settings;

    std::unique_ptr<pqxx::connection> database;
    if (c.database != DatabaseMode::None) {
      if (settings.database.url.empty()) {
        outcome.details.push_back(
            "database: pipeline, but the pipeline's database.url is empty with this case's "
            "environment");
        return;
      }
      app::migratePipeline(*validated);
      database = std::make_unique<pqxx::connection>(settings.database.url);
      for (std::size_t i = 0; i < c.fixtures.size(); ++i) {
        try {
          pqxx::nontransaction work(*database);
          work.exec(c.fixtures[i]);
        } catch (const std::exception& e) {
          outcome.details.push_back("fixtures[" + std::to_string(i) + "] (" +
                                    place(file.path, c.fixtureLines[i]) +
                                    ") failed: " + trimmed(e.what()));
          return;
        }
      }
    }

    std::unique_ptr<app::Engine> engine;
    try {
      engine = std::make_unique<app::Engine>(std::move(*validated), /*migrate=*/false);
    } catch (const config::ConfigErrors& e) {
      fail(outcome, "the engine refused the pipeline:", e, pipelinePath, file.pipeline);
      return;
    }
    const std::string bootstrap = readFirstLine(settings.kafka.bootstrapFile);
    if (bootstrap.empty()) throw std::runtime_error("the embedded broker wrote no address");

    std::atomic<bool> stop{false};
    app::RunResult result = app::RunResult::Drained;
    std::string runError;
    std::atomic<bool> running{true};
    std::thread thread([&] {
      try {
        result = engine->run(stop);
      } catch (const std::exception& e) {
        runError = e.what();
      }
      running = false;
    });
    // Whatever happens below, the engine is stopped before it is destroyed.
    struct JoinGuard {
      std::atomic<bool>& stop;
      std::thread& thread;
      ~JoinGuard() {
        stop = true;
        if (thread.joinable()) thread.join();
      }
    } joinGuard{stop, thread};

    Observed observed;
    Evaluation evaluation;
    bool waited = false;  // false when the inputs could not even be sent
    bool handled = false;
    GroupProgress lastProgress;
    // Inputs on the pipeline's own topic must be handled and committed
    // before the case ends; records on other topics nobody may consume.
    bool awaitCommits = false;
    {
      auto logger = logging::makeLogger("commsvc-test");
      auto producer = std::make_unique<kafka::RawProducer>(
          kafka::Properties{{"bootstrap.servers", bootstrap}}, *logger);
      auto reader = std::make_unique<TopicReader>(bootstrap, settings.kafka.deadLetterTopic);
      auto probe = std::make_unique<GroupProbe>(bootstrap, settings.kafka.group);

      std::vector<std::string> sendErrors;
      std::mutex sendMutex;
      for (const InputRecord& input : c.inputs) {
        const std::string topic = input.topic.empty() ? settings.kafka.topic : input.topic;
        if (topic == settings.kafka.topic) awaitCommits = true;
        std::string value;
        if (input.value) {
          value = *input.value;
        } else {
          value = toEnvelopeJson(
              makeEvent(input.type, input.key, input.payload, settings.engine.serviceName));
        }
        producer->send(topic, input.key, value, input.headers,
                       [&, line = input.line](bool ok, const std::string& error) {
                         if (ok) return;
                         std::lock_guard lock(sendMutex);
                         sendErrors.push_back("input at " + place(file.path, line) +
                                              " not delivered: " + error);
                       });
      }
      if (!producer->flush(std::chrono::seconds(10))) {
        sendErrors.push_back("inputs not delivered to the embedded broker within 10 s");
      }
      {
        std::lock_guard lock(sendMutex);
        outcome.details.insert(outcome.details.end(), sendErrors.begin(), sendErrors.end());
      }

      const auto deadline = Clock::now() + c.timeout;
      std::optional<Clock::time_point> settledSince;
      while (outcome.details.empty()) {
        waited = true;
        reader->poll(std::chrono::milliseconds(0));
        observe(c, rewritten, *reader, database.get(), observed);
        evaluation = evaluate(c, observed, file.path);
        handled = true;
        if (awaitCommits) {
          lastProgress = probe->progress(settings.kafka.topic, std::chrono::seconds(2));
          handled = lastProgress.known && lastProgress.committed >= lastProgress.records;
        }
        const auto now = Clock::now();
        if (evaluation.found && handled) {
          if (!settledSince) settledSince = now;
          if (now - *settledSince >= kSettle) break;
        } else {
          settledSince.reset();
        }
        if (now >= deadline || !running || interrupted_) break;
        std::this_thread::sleep_for(kPollInterval);
      }

      stop = true;
      if (thread.joinable()) thread.join();
      // What the drain flushed, and the dead letters still on their way.
      for (int i = 0; i < 3; ++i) reader->poll(std::chrono::milliseconds(100));
      observe(c, rewritten, *reader, database.get(), observed);
      evaluation = evaluate(c, observed, file.path);
      producer.reset();
      reader.reset();
      probe.reset();
    }

    if (result == app::RunResult::Stuck) {
      outcome.stuck = true;
      outcome.details.push_back(
          "a handler did not return within engine.shutdown_timeout_ms: the engine is left "
          "running");
      (void)engine.release();  // its plugins must stay loaded
    } else {
      engine.reset();
    }
    if (!runError.empty()) outcome.details.push_back("the engine stopped: " + runError);
    if (interrupted_) outcome.details.push_back("interrupted");
    if (waited && !handled && !interrupted_) {
      outcome.details.push_back("not every input on " + settings.kafka.topic +
                                " was handled and committed within timeout_ms (" +
                                std::to_string(c.timeout.count()) +
                                " ms): " + std::to_string(lastProgress.committed) + " of " +
                                std::to_string(lastProgress.records) + " records" +
                                (lastProgress.known ? "" : " (the broker did not answer)"));
    }
    if (!interrupted_) {
      outcome.details.insert(outcome.details.end(), evaluation.diff.begin(), evaluation.diff.end());
    }
    outcome.passed = outcome.details.empty();
  }

  void observe(const TestCase& c, const RewrittenPipeline& rewritten, const TopicReader& reader,
               pqxx::connection* database, Observed& observed) {
    observed.messages.clear();
    for (const auto& [name, path] : rewritten.channelFiles) {
      for (const auto& line : readJsonLines(path)) {
        observed.messages.push_back(messageItem(name, line));
      }
    }
    observed.events.clear();
    for (const auto& [name, path] : rewritten.publisherFiles) {
      for (const auto& line : readJsonLines(path)) {
        observed.events.push_back(eventItem(name, line));
      }
    }
    observed.deadLetters.clear();
    for (const auto& record : reader.records()) {
      observed.deadLetters.push_back(deadLetterItem(record));
    }
    if (c.expect.logs.given) observed.logs = capture_.lines();
    observed.queryRows.assign(c.expect.queries.size(), {});
    observed.queryErrors.assign(c.expect.queries.size(), "");
    for (std::size_t i = 0; i < c.expect.queries.size(); ++i) {
      if (database == nullptr) {
        observed.queryErrors[i] = "no database";
        continue;
      }
      try {
        observed.queryRows[i] =
            runQuery(*database, c.expect.queries[i].sql, c.expect.queries[i].positional);
      } catch (const std::exception& e) {
        observed.queryErrors[i] = trimmed(e.what());
      }
    }
  }

  const RunOptions& options_;
  const std::atomic<bool>& interrupted_;
  LogCapture capture_;
  std::unique_ptr<ThrowawayPostgres> postgres_;
  std::string postgresError_;
  int databases_ = 0;
};

std::string seconds(Clock::duration d) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f s", std::chrono::duration<double>(d).count());
  return buffer;
}

}  // namespace

int runTests(const RunOptions& options, const std::atomic<bool>& interrupted, std::ostream& out,
             std::ostream& err) {
  std::vector<config::Problem> problems;
  std::vector<TestFile> files;
  for (const auto& path : options.files) {
    const std::size_t before = problems.size();
    TestFile file = loadTestFile(path, problems);
    if (problems.size() == before) checkAgainstPipeline(file, problems);
    files.push_back(std::move(file));
  }
  if (options.files.empty()) {
    err << "commsvc test: no test files given\n";
    return kExitBroken;
  }
  if (!problems.empty()) {
    std::vector<std::string> lines;
    for (const auto& p : problems) lines.push_back(p.toString());
    lines.erase(std::unique(lines.begin(), lines.end()), lines.end());
    for (const auto& line : lines) err << line << "\n";
    err << "commsvc test: " << lines.size() << (lines.size() == 1 ? " problem" : " problems")
        << " in the test files; no case was run\n";
    return kExitBroken;
  }

  const auto started = Clock::now();
  int passed = 0;
  int failed = 0;
  bool stuck = false;
  {
    Runner runner(options, interrupted);
    for (const TestFile& file : files) {
      for (const TestCase& c : file.cases) {
        if (interrupted || stuck) break;
        const auto caseStarted = Clock::now();
        const CaseOutcome outcome = runner.run(file, c);
        stuck = stuck || outcome.stuck;
        (outcome.passed ? passed : failed) += 1;
        out << (outcome.passed ? "ok   " : "FAIL ") << file.path << ": " << c.name << " ("
            << seconds(Clock::now() - caseStarted) << ")\n";
        for (const auto& detail : outcome.details) {
          // Multi-line texts (PostgreSQL errors) stay indented under their case.
          std::size_t start = 0;
          for (std::size_t end; (end = detail.find('\n', start)) != std::string::npos;
               start = end + 1) {
            out << (start == 0 ? "    " : "      ") << detail.substr(start, end - start) << "\n";
          }
          out << (start == 0 ? "    " : "      ") << detail.substr(start) << "\n";
        }
        if ((!outcome.passed || options.verbose) && !outcome.log.empty()) {
          const std::size_t n = outcome.log.size();
          const std::size_t from = n > kMaxLogLines ? n - kMaxLogLines : 0;
          out << "    engine log (" << n << " lines" << (from > 0 ? ", the last shown" : "")
              << "):\n";
          for (std::size_t i = from; i < n; ++i) {
            out << "      | " << LogCapture::toText(outcome.log[i]) << "\n";
          }
        }
        if (!outcome.keptDir.empty()) out << "    kept: " << outcome.keptDir << "\n";
        out.flush();
      }
    }
    if (stuck) {
      out << passed << " passed, " << failed << " failed; stopped: a handler is stuck\n";
      out.flush();
      std::fflush(nullptr);
      std::_Exit(kExitFailed);
    }
  }
  int total = 0;
  for (const auto& f : files) total += static_cast<int>(f.cases.size());
  out << passed << " passed, " << failed << " failed";
  if (passed + failed < total) out << ", " << (total - passed - failed) << " not run";
  out << " (" << files.size() << (files.size() == 1 ? " file, " : " files, ")
      << seconds(Clock::now() - started) << ")\n";
  if (interrupted) out << "interrupted\n";
  return failed == 0 && passed == total ? kExitPassed : kExitFailed;
}

}  // namespace commsvc::pipeline_test
