#pragma once

// Pipeline test files (`commsvc test FILE...`): the YAML format, parsed and
// checked with file:line:column for every problem. The format is described
// in README.md ("Pipeline tests"); a short version:
//
//   pipeline: ../../pipelines.yaml   # relative to the test file
//   database: postgres               # none (default) | postgres | pipeline
//   env: { EMAIL_CHANNEL: smtp }     # the ${VARIABLES} the pipeline sees
//   cases:
//     - name: sends a queued email
//       fixtures: ["INSERT INTO ..."]
//       inputs: [{ type: communication.send_email, key: "1", payload: { email_id: 1 } }]
//       expect:
//         messages: [{ channel: smtp, to: a@example.org, subject_contains: Termin }]
//         events: [{ publisher: events, type: email.sent, payload: { email_id: 1 } }]
//         dead_letters: []

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "commsvc/event.hpp"
#include "config/pipeline_config.hpp"
#include "pipeline_test/expectations.hpp"

namespace commsvc::pipeline_test {

/// Which PostgreSQL a case's pipeline gets as `database.url`.
enum class DatabaseMode {
  None,      ///< none: `database.url` is emptied
  Postgres,  ///< a throw-away server started by `commsvc test`, a fresh database per case
  Pipeline,  ///< the pipeline's own `database.url` (with the case's environment)
};

/// One record a case puts on the embedded broker before waiting.
struct InputRecord {
  int line = 0;       ///< where the input is written in the test file (1-based)
  std::string topic;  ///< empty: the pipeline's kafka.topic
  std::string key;    ///< record key; empty: none
  /// With `type`: an envelope is built when the record is sent (fresh
  /// eventId and timestamp, producer = the pipeline's service name).
  std::string type;
  std::string payload = "{}";        ///< the envelope's payload (JSON object text), with `type`
  std::optional<std::string> value;  ///< `raw` or `envelope`: the exact record value
  std::vector<Header> headers;       ///< record headers
};

/// A query run against the case's database; its rows must equal `rows`.
struct QueryExpectation {
  int line = 0;     ///< where it is written (1-based)
  int column = 0;   ///< column (1-based)
  std::string sql;  ///< the SELECT
  /// Expected rows in order: each the columns it checks (text as
  /// PostgreSQL prints it, or null), by name or, when `positional`, as
  /// "#1", "#2", ... by position.
  std::vector<ItemExpectation> rows;
  bool positional = false;  ///< rows were written as lists of values
};

/// What a case expects once its inputs are handled.
struct CaseExpectations {
  KindExpectation messages;               ///< channel messages (strict when given)
  KindExpectation events;                 ///< published events (strict when given)
  KindExpectation deadLetters;            ///< dead-lettered records (strict when given)
  KindExpectation logs;                   ///< engine log lines (never strict)
  std::vector<QueryExpectation> queries;  ///< database queries
};

/// One case of a test file, with the file's defaults applied.
struct TestCase {
  std::string name;                            ///< `name:`, unique in its file
  int line = 0;                                ///< where the case starts (1-based)
  std::map<std::string, std::string> env;      ///< the file's env, then the case's
  std::vector<std::string> passEnv;            ///< variables taken from the process environment
  DatabaseMode database = DatabaseMode::None;  ///< which PostgreSQL the pipeline gets
  /// Channels/publishers kept as the pipeline writes them, each with the
  /// line naming it.
  std::map<std::string, int> real;
  int partitions = 1;                        ///< partitions of the embedded broker's topics
  std::chrono::milliseconds timeout{15000};  ///< wait at most this long for the expectations
  std::vector<std::string> fixtures;         ///< SQL run after migrating, before the inputs
  std::vector<int> fixtureLines;             ///< line of each fixture
  std::vector<InputRecord> inputs;           ///< records produced, in order
  CaseExpectations expect;                   ///< what must have happened
};

/// A parsed test file.
struct TestFile {
  std::string path;             ///< as given on the command line
  std::string pipeline;         ///< the pipeline file, resolved against the test file's directory
  int pipelineLine = 0;         ///< line of `pipeline:`
  std::vector<TestCase> cases;  ///< in file order
};

/// Parses the text of a test file; `path` names it in problems and is the
/// base of a relative `pipeline:`. Appends every problem found (unknown keys
/// with the list of valid keys, wrong types, missing keys, duplicate case
/// names, fixtures without a database, ...) to `problems` as
/// file:line:column; the returned file is usable only when none was added.
/// Does not read the pipeline file (see checkAgainstPipeline).
TestFile parseTestFile(const std::string& text, const std::string& path,
                       std::vector<config::Problem>& problems);

/// Reads and parses `path` (parseTestFile); a file that cannot be read is a
/// problem too.
TestFile loadTestFile(const std::string& path, std::vector<config::Problem>& problems);

/// Checks what needs the pipeline file: that it exists and is YAML, and that
/// every `real:` entry names one of its channels or publishers.
void checkAgainstPipeline(const TestFile& file, std::vector<config::Problem>& problems);

}  // namespace commsvc::pipeline_test
