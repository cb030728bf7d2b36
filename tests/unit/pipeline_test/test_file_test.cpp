#include "pipeline_test/test_file.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace commsvc::pipeline_test {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

std::vector<std::string> problemsOf(const std::string& text, const std::string& file = "t.yaml") {
  std::vector<config::Problem> problems;
  parseTestFile(text, file, problems);
  std::vector<std::string> out;
  for (const auto& p : problems) out.push_back(p.toString());
  return out;
}

TestFile parsed(const std::string& text) {
  std::vector<config::Problem> problems;
  TestFile file = parseTestFile(text, "dir/t.yaml", problems);
  for (const auto& p : problems) ADD_FAILURE() << p.toString();
  return file;
}

const FieldCheck* findCheck(const ItemExpectation& item, const std::vector<std::string>& path,
                            CheckKind kind = CheckKind::Equals) {
  for (const auto& check : item.checks) {
    if (check.path == path && check.kind == kind) return &check;
  }
  return nullptr;
}

constexpr const char* kFull = R"(
pipeline: ../pipelines.yaml
database: postgres
env: { EMAIL_CHANNEL: smtp, WORKERS: "2" }
pass_env: [HOME]
real: [events]
timeout_ms: 5000
cases:
  - name: everything
    env: { EMAIL_CHANNEL: log }
    partitions: 3
    fixtures:
      - INSERT INTO t VALUES (1)
    inputs:
      - { type: communication.send_email, key: 1, payload: { email_id: 1, note: "2", ok: true } }
      - { key: "2", raw: "not JSON", headers: { origin: test } }
      - { envelope: { payload: [1], eventType: x }, topic: other }
    expect:
      messages:
        - { channel: smtp, subject: Hallo, text_contains: [Guten, Tag] }
      events:
        - { publisher: events, key: 1, payload: { email_id: 1, email_data: { status: Gesendet } } }
      dead_letters:
        - { reason: not_json, headers: { origin: test } }
      logs:
        - { message_contains: requested, fields: { therapist_id: 5 } }
      queries:
        - sql: SELECT status FROM t
          rows: [{ status: Gesendet, note: null, quoted: "null" }]
  - name: defaults from the top
    real: []
    expect:
      dead_letters: []
)";

TEST(ParseTestFile, ReadsEveryPartWithTheFileDefaults) {
  const TestFile file = parsed(kFull);
  EXPECT_EQ(file.pipeline, "pipelines.yaml");  // relative to the test file
  EXPECT_EQ(file.pipelineLine, 2);
  ASSERT_THAT(file.cases, SizeIs(2));

  const TestCase& c = file.cases[0];
  EXPECT_EQ(c.name, "everything");
  EXPECT_EQ(c.line, 9);
  EXPECT_EQ(c.env,
            (std::map<std::string, std::string>{{"EMAIL_CHANNEL", "log"}, {"WORKERS", "2"}}));
  EXPECT_THAT(c.passEnv, ElementsAre("HOME"));
  EXPECT_EQ(c.database, DatabaseMode::Postgres);
  EXPECT_EQ(c.real, (std::map<std::string, int>{{"events", 6}}));
  EXPECT_EQ(c.partitions, 3);
  EXPECT_EQ(c.timeout, std::chrono::milliseconds(5000));
  EXPECT_THAT(c.fixtures, ElementsAre("INSERT INTO t VALUES (1)"));
  EXPECT_THAT(c.fixtureLines, ElementsAre(13));

  ASSERT_THAT(c.inputs, SizeIs(3));
  EXPECT_EQ(c.inputs[0].type, "communication.send_email");
  EXPECT_EQ(c.inputs[0].key, "1");
  EXPECT_EQ(json::parse(c.inputs[0].payload),
            json::parse(R"({"email_id":1,"note":"2","ok":true})"));
  EXPECT_FALSE(c.inputs[0].value.has_value());
  EXPECT_EQ(c.inputs[1].value, "not JSON");
  EXPECT_EQ(c.inputs[1].headers, (std::vector<Header>{{"origin", "test"}}));
  EXPECT_EQ(*c.inputs[2].value, R"({"payload":[1],"eventType":"x"})");  // as written
  EXPECT_EQ(c.inputs[2].topic, "other");
  EXPECT_EQ(c.inputs[2].line, 17);

  ASSERT_THAT(c.expect.messages.items, SizeIs(1));
  const ItemExpectation& message = c.expect.messages.items[0];
  EXPECT_EQ(message.line, 20);
  ASSERT_NE(findCheck(message, {"subject"}), nullptr);
  EXPECT_EQ(findCheck(message, {"subject"})->expected, "Hallo");
  EXPECT_EQ(std::count_if(message.checks.begin(), message.checks.end(),
                          [](const FieldCheck& f) { return f.kind == CheckKind::Contains; }),
            2);

  const ItemExpectation& event = c.expect.events.items[0];
  EXPECT_EQ(findCheck(event, {"key"})->expected, "1");  // a text field: the scalar's text
  EXPECT_EQ(findCheck(event, {"payload", "email_id"})->expected, 1);  // JSON: a number
  EXPECT_EQ(findCheck(event, {"payload", "email_data", "status"})->expected, "Gesendet");

  EXPECT_NE(findCheck(c.expect.deadLetters.items[0], {"headers", "origin"}), nullptr);
  EXPECT_EQ(findCheck(c.expect.logs.items[0], {"fields", "therapist_id"})->expected, "5");
  EXPECT_NE(findCheck(c.expect.logs.items[0], {"message"}, CheckKind::Contains), nullptr);

  ASSERT_THAT(c.expect.queries, SizeIs(1));
  const ItemExpectation& row = c.expect.queries[0].rows.at(0);
  EXPECT_EQ(findCheck(row, {"status"})->expected, "Gesendet");
  EXPECT_TRUE(findCheck(row, {"note"})->expected.is_null());  // SQL NULL
  EXPECT_EQ(findCheck(row, {"quoted"})->expected, "null");    // the text "null"

  const TestCase& d = file.cases[1];
  EXPECT_EQ(d.env.at("EMAIL_CHANNEL"), "smtp");
  EXPECT_TRUE(d.real.empty());
  EXPECT_EQ(d.partitions, 1);
  EXPECT_EQ(d.timeout, std::chrono::milliseconds(5000));
  EXPECT_TRUE(d.expect.deadLetters.given);
  EXPECT_FALSE(d.expect.messages.given);
}

TEST(ParseTestFile, PlainScalarsInPayloadsAreTypedQuotedOnesAreText) {
  const TestFile file = parsed(R"(
pipeline: p.yaml
cases:
  - name: c
    inputs:
      - type: t
        payload: { a: 1, b: "1", c: 1.5, d: true, e: 'true', f: null, g: ~, h: [1, "x"], i: 007x }
    expect: { logs: [] }
)");
  EXPECT_EQ(json::parse(file.cases.at(0).inputs.at(0).payload),
            json::parse(R"({"a":1,"b":"1","c":1.5,"d":true,"e":"true","f":null,"g":null,)"
                        R"("h":[1,"x"],"i":"007x"})"));
}

TEST(ParseTestFile, UnknownKeysNameLineColumnAndTheValidKeys) {
  EXPECT_THAT(problemsOf("pipeline: p.yaml\n"
                         "cases:\n"
                         "  - name: c\n"
                         "    expect:\n"
                         "      mesages: []\n"),
              ElementsAre("t.yaml:5:7: cases[0].expect.mesages: unknown key 'mesages' (valid keys: "
                          "messages, events, dead_letters, logs, queries)"));
  EXPECT_THAT(problemsOf("pipeline: p.yaml\n"
                         "pipelin: p.yaml\n"
                         "x-anchors: { a: 1 }\n"
                         "cases: [{ name: c, expect: { events: [{ typ: x }] } }]\n"),
              ElementsAre(HasSubstr("t.yaml:2:1: pipelin: unknown key 'pipelin' (valid keys: "
                                    "pipeline, database, env, pass_env, real, partitions, "
                                    "timeout_ms, cases; keys starting with x- are ignored)"),
                          HasSubstr("t.yaml:4:41: cases[0].expect.events[0].typ: unknown key 'typ' "
                                    "(valid keys: publisher, type, key, producer, payload)")));
}

TEST(ParseTestFile, ReportsEveryProblemAtOnce) {
  const auto problems = problemsOf(R"(
database: sqlite
timeout_ms: soon
cases:
  - name: a
    fixtures: ["INSERT 1"]
    inputs:
      - { type: t, raw: x }
      - { key: "1" }
      - { raw: x, payload: {} }
    expect: {}
  - name: a
  - 42
)");
  const std::string all = ::testing::PrintToString(problems);
  EXPECT_THAT(all, HasSubstr("t.yaml:2:1: pipeline: missing"));
  EXPECT_THAT(all, HasSubstr("t.yaml:2:11: database: unknown value 'sqlite' (valid: none, "
                             "postgres, pipeline)"));
  EXPECT_THAT(all, HasSubstr("t.yaml:3:13: timeout_ms: must be an integer from 100 to 3600000"));
  EXPECT_THAT(all, HasSubstr("t.yaml:6:15: cases[0].fixtures: fixtures need a database"));
  EXPECT_THAT(all, HasSubstr("t.yaml:8:9: cases[0].inputs[0]: a record needs exactly one of"));
  EXPECT_THAT(all, HasSubstr("t.yaml:9:9: cases[0].inputs[1]: a record needs exactly one of"));
  EXPECT_THAT(all, HasSubstr("t.yaml:10:28: cases[0].inputs[2].payload: `payload` goes with"));
  EXPECT_THAT(all, HasSubstr("t.yaml:11:13: cases[0].expect: names nothing to check"));
  EXPECT_THAT(all, HasSubstr("t.yaml:12:5: cases[1].name: case name 'a' is used twice (first at "
                             "line 5)"));
  EXPECT_THAT(all, HasSubstr("t.yaml:12:5: cases[1].expect: missing"));
  EXPECT_THAT(all, HasSubstr("t.yaml:13:5: cases[2]: a case is a mapping"));
}

TEST(ParseTestFile, NotYamlNamesTheLine) {
  EXPECT_THAT(problemsOf("pipeline: p.yaml\ncases: [\n  - name: x\n"),
              ElementsAre(HasSubstr("not valid YAML")));
  EXPECT_THAT(problemsOf("pipeline: [unclosed\n")[0], HasSubstr("t.yaml:"));
  EXPECT_THAT(problemsOf("- just\n- a list\n"),
              ElementsAre("t.yaml:1:1: a test file is a mapping (keys: pipeline, database, env, "
                          "pass_env, real, partitions, timeout_ms, cases), not a list"));
}

TEST(ParseTestFile, QueryRowsByNameOrByPosition) {
  const TestFile file = parsed(R"(
pipeline: p.yaml
database: postgres
cases:
  - name: c
    expect:
      queries:
        - { sql: SELECT 1, rows: [[Gesendet, null, "null"]] }
)");
  const QueryExpectation& q = file.cases.at(0).expect.queries.at(0);
  EXPECT_TRUE(q.positional);
  ASSERT_EQ(q.rows.size(), 1u);
  const auto& checks = q.rows[0].checks;
  ASSERT_EQ(checks.size(), 3u);
  EXPECT_EQ(checks[0].path, std::vector<std::string>{"#1"});
  EXPECT_EQ(checks[0].expected, "Gesendet");
  EXPECT_TRUE(checks[1].expected.is_null());
  EXPECT_EQ(checks[2].expected, "null");

  EXPECT_THAT(problemsOf("pipeline: p.yaml\ndatabase: postgres\ncases:\n  - name: c\n"
                         "    expect:\n      queries:\n"
                         "        - { sql: S, rows: [[a], { s: b }, x, [{ a: 1 }]] }\n"),
              ElementsAre(HasSubstr("t.yaml:7:33: cases[0].expect.queries[0].rows[1]: the rows of "
                                    "one query are all mappings"),
                          HasSubstr("t.yaml:7:43: cases[0].expect.queries[0].rows[2]: a row is a "
                                    "mapping of column to value, or a list of values, not a text "
                                    "value"),
                          HasSubstr("t.yaml:7:47: cases[0].expect.queries[0].rows[3].#1: must be a "
                                    "text value or null, not a mapping")));
}

TEST(ParseTestFile, QueriesNeedADatabase) {
  EXPECT_THAT(problemsOf("pipeline: p.yaml\ncases:\n  - name: c\n    expect:\n"
                         "      queries: [{ sql: SELECT 1, rows: [] }]\n"),
              ElementsAre(HasSubstr("t.yaml:5:16: cases[0].expect.queries: queries need a "
                                    "database")));
}

/// A temporary directory with files, removed at the end.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "commsvc-ptest-unit-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    const std::string file = path_ + "/" + name;
    std::ofstream(file) << text;
    return file;
  }

 private:
  std::string path_;
};

TEST(CheckAgainstPipeline, RealMustNameAChannelOrPublisher) {
  TempDir dir;
  dir.write("p.yaml",
            "channels: { smtp: { type: smtp } }\npublishers: { events: { type: kafka } }\n");
  const std::string test = dir.write("t.yaml",
                                     "pipeline: p.yaml\n"
                                     "cases:\n"
                                     "  - name: c\n"
                                     "    real: [smtp, events, smpt]\n"
                                     "    expect: { logs: [] }\n");
  std::vector<config::Problem> problems;
  const TestFile file = loadTestFile(test, problems);
  ASSERT_THAT(problems, IsEmpty());
  checkAgainstPipeline(file, problems);
  ASSERT_THAT(problems, SizeIs(1));
  EXPECT_EQ(problems[0].line, 4);
  EXPECT_THAT(problems[0].message, HasSubstr("'smpt' is not a channel or publisher of"));
  EXPECT_THAT(problems[0].message, HasSubstr("(it has: smtp, events)"));
}

TEST(CheckAgainstPipeline, AMissingPipelineFileIsAProblemAtItsLine) {
  TempDir dir;
  const std::string test =
      dir.write("t.yaml", "\npipeline: nowhere.yaml\ncases: [{ name: c, expect: { logs: [] } }]\n");
  std::vector<config::Problem> problems;
  checkAgainstPipeline(loadTestFile(test, problems), problems);
  ASSERT_THAT(problems, SizeIs(1));
  EXPECT_EQ(problems[0].line, 2);
  EXPECT_THAT(problems[0].message, HasSubstr("cannot read the pipeline file"));
}

TEST(LoadTestFile, AnUnreadableFileIsAProblem) {
  std::vector<config::Problem> problems;
  loadTestFile("/nonexistent/t.yaml", problems);
  ASSERT_THAT(problems, SizeIs(1));
  EXPECT_EQ(problems[0].toString(), "/nonexistent/t.yaml: cannot read the test file");
}

}  // namespace
}  // namespace commsvc::pipeline_test
