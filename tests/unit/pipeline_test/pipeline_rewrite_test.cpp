#include "pipeline_test/pipeline_rewrite.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>

namespace commsvc::pipeline_test {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

namespace fs = std::filesystem;

constexpr const char* kPipeline =
    R"(plugins: [email, transport-smtp, transport-log, publisher-kafka]
engine:
  plugin_dir: [plugins, /abs/plugins, "${PLUGINS}"]
kafka:
  brokers: "${KAFKA_BROKERS}"
  topic: communication-events
  properties:
    security.protocol: SASL_SSL
    sasl.password: "${KAFKA_PASSWORD}"
    statistics.interval.ms: "1000"
database:
  url: "${DATABASE_URL}"
http:
  port: 8004
channels:
  smtp: { type: smtp, host: "${SMTP_HOST}" }
  log:  { type: log }
publishers:
  events: { type: kafka }
handlers:
  - { event: communication.send_email, type: email, channel: "${EMAIL_CHANNEL}", publisher: events }
)";

/// A pipeline file in a temporary directory (whose name holds a '$').
class PipelineRewriteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "commsvc-rewrite-$X-XXXXXX").string();
    dir_ = ::mkdtemp(pattern.data());
    file_ = dir_ + "/pipelines.yaml";
    std::ofstream(file_) << kPipeline;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  RewriteOptions options() const {
    RewriteOptions o;
    o.workDir = dir_ + "/work";
    return o;
  }

  std::string dir_;
  std::string file_;
};

TEST_F(PipelineRewriteTest, ReplacesTheEndsAndKeepsTheRest) {
  RewriteOptions o = options();
  o.real = {"log"};
  o.partitions = 2;
  o.databaseUrl = "postgresql://postgres@127.0.0.1:5/case_1";
  const RewrittenPipeline out = rewritePipeline(file_, o);
  const YAML::Node root = YAML::Load(out.text);

  EXPECT_EQ(root["kafka"]["brokers"].as<std::string>(), "embedded");
  EXPECT_EQ(root["kafka"]["topic"].as<std::string>(), "communication-events");
  EXPECT_EQ(root["kafka"]["embedded_partitions"].as<std::string>(), "2");
  EXPECT_EQ(root["kafka"]["bootstrap_file"].as<std::string>(),
            o.workDir.substr(0, o.workDir.find('$')) + "$$" +
                o.workDir.substr(o.workDir.find('$') + 1) + "/kafka-bootstrap");
  EXPECT_FALSE(root["kafka"]["properties"]["security.protocol"].IsDefined());
  EXPECT_FALSE(root["kafka"]["properties"]["sasl.password"].IsDefined());
  EXPECT_EQ(root["kafka"]["properties"]["statistics.interval.ms"].as<std::string>(), "1000");
  EXPECT_EQ(root["http"]["port"].as<std::string>(), "0");
  EXPECT_EQ(root["http"]["address"].as<std::string>(), "127.0.0.1");
  EXPECT_EQ(root["database"]["url"].as<std::string>(), o.databaseUrl);

  EXPECT_EQ(root["channels"]["smtp"]["type"].as<std::string>(), "mock");
  EXPECT_FALSE(root["channels"]["smtp"]["host"].IsDefined());
  EXPECT_EQ(root["channels"]["log"]["type"].as<std::string>(), "log");  // real
  EXPECT_EQ(root["publishers"]["events"]["type"].as<std::string>(), "mock");
  EXPECT_EQ(out.channelFiles.size(), 1u);
  EXPECT_EQ(out.channelFiles.at("smtp"), o.workDir + "/channel-0-smtp.jsonl");
  EXPECT_EQ(out.publisherFiles.at("events"), o.workDir + "/publisher-0-events.jsonl");
  EXPECT_THAT(root["plugins"].as<std::vector<std::string>>(),
              ElementsAre("email", "transport-smtp", "transport-log", "publisher-kafka",
                          "transport-mock", "publisher-mock"));

  // Relative plugin directories now name the original's, variables stay.
  const auto dirs = root["engine"]["plugin_dir"].as<std::vector<std::string>>();
  ASSERT_EQ(dirs.size(), 3u);
  EXPECT_THAT(dirs[0], HasSubstr("/plugins"));
  EXPECT_TRUE(fs::path(dirs[0]).is_absolute());
  EXPECT_EQ(dirs[1], "/abs/plugins");
  EXPECT_EQ(dirs[2], "${PLUGINS}");

  // The handler is untouched: its ${EMAIL_CHANNEL} is the case's to set.
  EXPECT_EQ(root["handlers"][0]["channel"].as<std::string>(), "${EMAIL_CHANNEL}");
}

TEST_F(PipelineRewriteTest, ValidatesStructurallyWithOnlyTheCaseVariables) {
  RewriteOptions o = options();
  o.databaseUrl = "postgresql://postgres@127.0.0.1:5/case_1";
  const RewrittenPipeline out = rewritePipeline(file_, o);
  std::vector<config::Problem> problems;
  const config::EnvLookup env = [](std::string_view name) -> std::optional<std::string> {
    if (name == "EMAIL_CHANNEL") return "smtp";
    if (name == "PLUGINS") return "/p";
    return std::nullopt;  // KAFKA_BROKERS, DATABASE_URL, SMTP_HOST, KAFKA_PASSWORD: not needed
  };
  const config::PipelineConfig config =
      config::parsePipeline(out.text, "rewritten.yaml", env, problems);
  for (const auto& p : problems) ADD_FAILURE() << p.toString();
  EXPECT_EQ(config.settings.kafka.brokers, "embedded");
  EXPECT_EQ(config.settings.kafka.bootstrapFile, o.workDir + "/kafka-bootstrap");  // $$ -> $
  EXPECT_EQ(config.settings.database.url, o.databaseUrl);
  EXPECT_EQ(config.settings.http.port, 0);
}

TEST_F(PipelineRewriteTest, DatabaseUrlEmptiedOrKept) {
  {
    const YAML::Node root = YAML::Load(rewritePipeline(file_, options()).text);
    EXPECT_EQ(root["database"]["url"].as<std::string>(), "");
  }
  RewriteOptions keep = options();
  keep.keepDatabase = true;
  const YAML::Node root = YAML::Load(rewritePipeline(file_, keep).text);
  EXPECT_EQ(root["database"]["url"].as<std::string>(), "${DATABASE_URL}");
}

TEST_F(PipelineRewriteTest, RefusesWhatIsNotAPipelineFile) {
  EXPECT_THROW(rewritePipeline(dir_ + "/missing.yaml", options()), std::runtime_error);
  std::ofstream(dir_ + "/list.yaml") << "- a\n";
  EXPECT_THROW(rewritePipeline(dir_ + "/list.yaml", options()), std::runtime_error);
}

TEST_F(PipelineRewriteTest, MapProblemFindsThePlaceInTheOriginal) {
  const config::Problem mapped =
      mapProblem({"/tmp/w/pipeline.yaml", 40, 3, "handlers[0].channel", "variable not set"},
                 "/tmp/w/pipeline.yaml", file_);
  EXPECT_EQ(mapped.file, file_);
  EXPECT_EQ(mapped.line, 21);
  EXPECT_EQ(mapped.column, 62);
  EXPECT_EQ(mapped.path, "handlers[0].channel");
  EXPECT_EQ(mapped.message, "variable not set");

  // As deep as the original goes.
  const config::Problem partial = mapProblem(
      {"/tmp/w/pipeline.yaml", 9, 9, "channels.smtp.file", "m"}, "/tmp/w/pipeline.yaml", file_);
  EXPECT_EQ(partial.line, 16);
  // Problems of other files are left alone.
  const config::Problem other{"plugin.so", 0, 0, "plugins", "m"};
  EXPECT_EQ(mapProblem(other, "/tmp/w/pipeline.yaml", file_).file, "plugin.so");
}

}  // namespace
}  // namespace commsvc::pipeline_test
