#include <gtest/gtest.h>

#include "config/pipeline_config.hpp"

namespace commsvc::config {
namespace {

enum class Tls { None, StartTls, Tls };
constexpr OptionChoice kTlsModes[] = {choice("none", Tls::None), choice("starttls", Tls::StartTls),
                                      choice("tls", Tls::Tls)};

struct Sample {
  std::string host;
  std::int64_t port = 587;
  Tls tls = Tls::StartTls;
  bool verbose = false;
  double ratio = 0.5;
  std::map<std::string, std::string> headers;
  std::vector<std::string> to;
  std::vector<std::string> tags{"a", "b"};
  std::map<std::string, std::string> labels{{"k", "v"}};
};

using O = Option<Sample>;
constexpr auto kOptions =
    optionList(O::field<&Sample::host>("host", "server host").required(),
               O::field<&Sample::port>("port", "server port").range(1, 65535),
               O::field<&Sample::tls>("tls", "TLS mode").choices(kTlsModes),
               O::field<&Sample::verbose>("verbose", "log more"),
               O::field<&Sample::ratio>("ratio", "a fraction"),
               O::field<&Sample::headers>("headers", "extra headers"),
               O::field<&Sample::to>("to", "recipients"), O::field<&Sample::tags>("tags", "tags"),
               O::field<&Sample::labels>("labels", "labels"));

class ValidateBlockTest : public ::testing::Test {
 protected:
  Config validate(const std::string& yaml) {
    problems_.clear();
    node_ = YAML::Load(yaml);
    return validateBlock(node_, kOptions.span(), kChannelEngineKeys, "p.yaml", "channels.smtp",
                         problems_);
  }

  std::string allProblems() const {
    std::string out;
    for (const Problem& p : problems_) out += p.toString() + "\n";
    return out;
  }

  YAML::Node node_;
  std::vector<Problem> problems_;
};

TEST_F(ValidateBlockTest, DefaultsAreFilledAndTyped) {
  const Config config = validate("type: smtp\nhost: mail\n");
  ASSERT_TRUE(problems_.empty()) << allProblems();
  EXPECT_EQ(config.getString("host"), "mail");
  EXPECT_EQ(config.getInt("port"), 587);
  EXPECT_EQ(config.getString("tls"), "starttls");
  EXPECT_FALSE(config.getBool("verbose"));
  EXPECT_DOUBLE_EQ(config.getNumber("ratio"), 0.5);
  EXPECT_TRUE(config.getMap("headers").empty());
  EXPECT_TRUE(config.getList("to").empty());
  EXPECT_EQ(config.getList("tags"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(config.getMap("labels"), (std::map<std::string, std::string>{{"k", "v"}}));
  EXPECT_TRUE(config.isSet("host"));
  EXPECT_FALSE(config.isSet("port"));
  EXPECT_FALSE(config.isSet("type"));  // an engine key, not an option
  EXPECT_EQ(config.where(), "p.yaml:1");
}

TEST_F(ValidateBlockTest, AllTypesFromYaml) {
  const Config config = validate(R"(
host: mail
port: "2525"
tls: none
verbose: YES
ratio: -1.25e2
headers: {X-A: "1", X-B: two}
to: [a@x, b@x]
)");
  ASSERT_TRUE(problems_.empty()) << allProblems();
  EXPECT_EQ(config.getInt("port"), 2525);
  EXPECT_EQ(config.getString("tls"), "none");
  EXPECT_TRUE(config.getBool("verbose"));
  EXPECT_DOUBLE_EQ(config.getNumber("ratio"), -125.0);
  EXPECT_EQ(config.getMap("headers"),
            (std::map<std::string, std::string>{{"X-A", "1"}, {"X-B", "two"}}));
  EXPECT_EQ(config.getList("to"), (std::vector<std::string>{"a@x", "b@x"}));
  EXPECT_TRUE(config.isSet("port"));
  EXPECT_EQ(config.where(), "p.yaml:2");
}

TEST_F(ValidateBlockTest, BooleanSpellings) {
  for (const char* yes : {"true", "True", "yes", "ON", "on"}) {
    EXPECT_TRUE(validate(std::string("host: h\nverbose: ") + yes).getBool("verbose")) << yes;
    EXPECT_TRUE(problems_.empty()) << allProblems();
  }
  for (const char* no : {"false", "FALSE", "no", "Off"}) {
    EXPECT_FALSE(validate(std::string("host: h\nverbose: ") + no).getBool("verbose")) << no;
    EXPECT_TRUE(problems_.empty()) << allProblems();
  }
  validate("host: h\nverbose: maybe");
  ASSERT_EQ(problems_.size(), 1u);
  EXPECT_NE(problems_[0].message.find("boolean"), std::string::npos);
}

TEST_F(ValidateBlockTest, UnknownKeyNamesKeyLineAndValidKeys) {
  validate("type: smtp\nhost: mail\nhots: typo\n");
  ASSERT_EQ(problems_.size(), 1u) << allProblems();
  const Problem& p = problems_[0];
  EXPECT_EQ(p.file, "p.yaml");
  EXPECT_EQ(p.line, 3);
  EXPECT_EQ(p.column, 1);
  EXPECT_EQ(p.path, "channels.smtp");
  EXPECT_NE(p.message.find("unknown key 'hots'"), std::string::npos) << p.message;
  EXPECT_NE(p.message.find("valid keys: type, host, port, tls, verbose, ratio, headers, to"),
            std::string::npos)
      << p.message;
  EXPECT_EQ(p.toString().rfind("p.yaml:3:1: channels.smtp: unknown key 'hots'", 0), 0u)
      << p.toString();
}

TEST_F(ValidateBlockTest, MissingRequiredKey) {
  validate("type: smtp\nport: 25\n");
  ASSERT_EQ(problems_.size(), 1u) << allProblems();
  EXPECT_NE(problems_[0].message.find("missing required key 'host'"), std::string::npos);
  EXPECT_EQ(problems_[0].line, 1);
}

TEST_F(ValidateBlockTest, EmptyBlockStillNeedsRequiredKey) {
  problems_.clear();
  validateBlock(YAML::Node(), kOptions.span(), {}, "p.yaml", "x", problems_);
  ASSERT_EQ(problems_.size(), 1u) << allProblems();
  EXPECT_NE(problems_[0].message.find("'host'"), std::string::npos);
}

TEST_F(ValidateBlockTest, WrongTypeScalarForInteger) {
  validate("host: h\nport: 25x\n");
  ASSERT_EQ(problems_.size(), 1u) << allProblems();
  EXPECT_EQ(problems_[0].path, "channels.smtp.port");
  EXPECT_EQ(problems_[0].line, 2);
  EXPECT_EQ(problems_[0].column, 7);
  EXPECT_NE(problems_[0].message.find("expected an integer, got '25x'"), std::string::npos);
}

TEST_F(ValidateBlockTest, IntegerMustParseFully) {
  for (const char* bad : {"1.5", "", "0x10", " 5", "5 ", "--1", "99999999999999999999"}) {
    validate(std::string("host: h\nport: \"") + bad + "\"\n");
    EXPECT_EQ(problems_.size(), 1u) << "'" << bad << "' " << allProblems();
  }
}

TEST_F(ValidateBlockTest, WrongStructuralTypes) {
  validate("host: [a, b]\nport: {a: 1}\nheaders: [x]\nto: {a: b}\nverbose:\n");
  ASSERT_EQ(problems_.size(), 5u) << allProblems();
  EXPECT_NE(problems_[0].message.find("expected a string, got a list"), std::string::npos);
  EXPECT_NE(problems_[1].message.find("expected an integer, got a mapping"), std::string::npos);
  EXPECT_NE(problems_[2].message.find("expected a mapping of text values"), std::string::npos);
  EXPECT_NE(problems_[3].message.find("expected a list of text values"), std::string::npos);
  EXPECT_NE(problems_[4].message.find("got no value"), std::string::npos);
}

TEST_F(ValidateBlockTest, NestedValuesInMapAndListMustBeScalars) {
  validate("host: h\nheaders: {a: [1]}\nto: [a, {b: c}]\n");
  ASSERT_EQ(problems_.size(), 2u) << allProblems();
  EXPECT_EQ(problems_[0].path, "channels.smtp.headers.a");
  EXPECT_EQ(problems_[1].path, "channels.smtp.to[1]");
}

TEST_F(ValidateBlockTest, NullMapAndListAreEmpty) {
  const Config config = validate("host: h\nheaders:\nto:\n");
  ASSERT_TRUE(problems_.empty()) << allProblems();
  EXPECT_TRUE(config.getMap("headers").empty());
  EXPECT_TRUE(config.getList("to").empty());
  EXPECT_TRUE(config.isSet("to"));
}

TEST_F(ValidateBlockTest, IntegerOutOfRangeGivesRange) {
  validate("host: h\nport: 70000\n");
  ASSERT_EQ(problems_.size(), 1u) << allProblems();
  EXPECT_NE(problems_[0].message.find("70000 is out of range [1, 65535]"), std::string::npos)
      << problems_[0].message;
  validate("host: h\nport: 0\n");
  ASSERT_EQ(problems_.size(), 1u) << allProblems();
  validate("host: h\nport: 65535\n");
  EXPECT_TRUE(problems_.empty()) << allProblems();
}

TEST_F(ValidateBlockTest, ValueNotInChoicesListsThem) {
  validate("host: h\ntls: ssl\n");
  ASSERT_EQ(problems_.size(), 1u) << allProblems();
  EXPECT_NE(problems_[0].message.find("'ssl' is not one of: none, starttls, tls"),
            std::string::npos)
      << problems_[0].message;
  EXPECT_EQ(problems_[0].path, "channels.smtp.tls");
}

TEST_F(ValidateBlockTest, NumberRejectsText) {
  validate("host: h\nratio: half\n");
  ASSERT_EQ(problems_.size(), 1u) << allProblems();
  EXPECT_NE(problems_[0].message.find("expected a number"), std::string::npos);
}

TEST_F(ValidateBlockTest, DuplicateKey) {
  validate("host: h\nport: 1\nport: 2\n");
  ASSERT_EQ(problems_.size(), 1u) << allProblems();
  EXPECT_NE(problems_[0].message.find("duplicate key 'port'"), std::string::npos);
  EXPECT_EQ(problems_[0].line, 3);
}

TEST_F(ValidateBlockTest, NotAMapping) {
  validate("[1, 2]");
  ASSERT_EQ(problems_.size(), 1u) << allProblems();
  EXPECT_NE(problems_[0].message.find("expected a mapping of options"), std::string::npos);
}

TEST_F(ValidateBlockTest, EveryProblemIsReported) {
  validate("type: smtp\nport: 0\ntls: ssl\nhots: x\nverbose: 2\n");
  // port range, tls choice, unknown key, boolean, missing host.
  EXPECT_EQ(problems_.size(), 5u) << allProblems();
}

TEST_F(ValidateBlockTest, EngineKeysAreSkipped) {
  problems_.clear();
  node_ = YAML::Load("event: e\ntype: t\nchannel: c\npublisher: p\nhost: h\n");
  validateBlock(node_, kOptions.span(), kHandlerEngineKeys, "p.yaml", "handlers[0]", problems_);
  EXPECT_TRUE(problems_.empty()) << allProblems();
}

TEST_F(ValidateBlockTest, FilledSettingsAreTyped) {
  const Config config = validate("host: mail\nport: 25\ntls: tls\nverbose: yes\nto: [a@x]\n");
  ASSERT_TRUE(problems_.empty()) << allProblems();
  const Sample sample = config.settings(kOptions);
  EXPECT_EQ(sample.host, "mail");
  EXPECT_EQ(sample.port, 25);
  EXPECT_EQ(sample.tls, Tls::Tls);
  EXPECT_TRUE(sample.verbose);
  EXPECT_DOUBLE_EQ(sample.ratio, 0.5);
  EXPECT_EQ(sample.to, std::vector<std::string>{"a@x"});
  EXPECT_EQ(sample.tags, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(sample.labels.at("k"), "v");
}

TEST(ProblemTest, ToStringFormat) {
  EXPECT_EQ((Problem{"f.yaml", 3, 7, "kafka.port", "bad"}).toString(),
            "f.yaml:3:7: kafka.port: bad");
  EXPECT_EQ((Problem{"f.yaml", 3, 7, "", "bad"}).toString(), "f.yaml:3:7: bad");
  EXPECT_EQ((Problem{"f.yaml", 0, 0, "x", "bad"}).toString(), "f.yaml: x: bad");
}

TEST(ConfigErrorsTest, WhatJoinsAllProblems) {
  const ConfigErrors errors({Problem{"f", 1, 2, "a", "one"}, Problem{"f", 3, 4, "b", "two"}});
  EXPECT_STREQ(errors.what(), "f:1:2: a: one\nf:3:4: b: two");
  EXPECT_EQ(errors.problems().size(), 2u);
}

}  // namespace
}  // namespace commsvc::config
