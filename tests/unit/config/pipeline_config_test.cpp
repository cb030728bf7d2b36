#include "config/pipeline_config.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "test_env.hpp"

namespace commsvc::config {
namespace {

using testing::fakeEnv;

const std::string kDataDir = COMMSVC_TEST_CONFIG_DATA_DIR;

// Parses `text` expecting ConfigErrors; returns its problems.
std::vector<Problem> problemsOf(const std::string& text, const EnvLookup& env = fakeEnv({})) {
  try {
    parsePipeline(text, "p.yaml", env);
  } catch (const ConfigErrors& e) {
    return e.problems();
  }
  ADD_FAILURE() << "no ConfigErrors for:\n" << text;
  return {};
}

std::string joined(const std::vector<Problem>& problems) {
  std::string out;
  for (const Problem& p : problems) out += p.toString() + "\n";
  return out;
}

bool anyContains(const std::vector<Problem>& problems, const std::string& text) {
  return std::any_of(problems.begin(), problems.end(), [&](const Problem& p) {
    return p.toString().find(text) != std::string::npos;
  });
}

constexpr const char* kMinimal = "plugins: [transport-log]\nkafka: {brokers: embedded}\n";

TEST(SplitPluginDirs, DropsEmptyParts) {
  EXPECT_EQ(splitPluginDirs("a::b:"), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(splitPluginDirs("").empty());
}

TEST(LoadPipelineTest, ValidFileWithDefaultsFromEnvironment) {
  const PipelineConfig config =
      loadPipeline(kDataDir + "/valid.yaml", fakeEnv({{"DATABASE_URL", "postgres://db/x"}}));
  EXPECT_EQ(config.file, kDataDir + "/valid.yaml");
  EXPECT_EQ(config.plugins,
            (std::vector<std::string>{"email", "phonecall", "transport-smtp", "transport-log",
                                      "transport-mock", "publisher-kafka"}));
  EXPECT_EQ(config.settings.kafka.brokers, "embedded");
  EXPECT_EQ(config.settings.kafka.topic, "communication-events");
  {
    // The typed settings do not tell a written default from an omitted one;
    // the validated section does.
    std::vector<Problem> problems;
    const Config kafka = validateBlock(YAML::LoadFile(kDataDir + "/valid.yaml")["kafka"],
                                       kafkaOptions(), {}, "valid.yaml", "kafka", problems);
    EXPECT_TRUE(problems.empty()) << joined(problems);
    EXPECT_TRUE(kafka.isSet("topic"));
    EXPECT_FALSE(kafka.isSet("poll_batch"));
  }
  EXPECT_EQ(config.settings.database.url, "postgres://db/x");

  ASSERT_EQ(config.channels.size(), 3u);
  EXPECT_EQ(config.channels[0].name, "smtp");
  EXPECT_EQ(config.channels[0].path, "channels.smtp");
  EXPECT_EQ(config.channels[0].type, "smtp");
  EXPECT_EQ(config.channels[0].line, 7);
  EXPECT_EQ(config.channels[0].node["port"].Scalar(), "587");
  EXPECT_EQ(config.channels[0].node["tls"].Scalar(), "starttls");
  EXPECT_EQ(config.channels[1].name, "log");
  EXPECT_EQ(config.channels[2].name, "mock");
  EXPECT_EQ(config.channels[2].node["file"].Scalar(), "mock-outbox.jsonl");

  ASSERT_EQ(config.publishers.size(), 1u);
  EXPECT_EQ(config.publishers[0].name, "events");
  EXPECT_EQ(config.publishers[0].type, "kafka");

  ASSERT_EQ(config.handlers.size(), 2u);
  EXPECT_EQ(config.handlers[0].event, "communication.send_email");
  EXPECT_EQ(config.handlers[0].block.type, "email");
  EXPECT_EQ(config.handlers[0].block.name, "handlers[0]");
  EXPECT_EQ(config.handlers[0].block.path, "handlers[0]");
  EXPECT_EQ(config.handlers[0].channel, "log");
  EXPECT_EQ(config.handlers[0].publisher, "events");
  EXPECT_EQ(config.handlers[0].block.line, 13);
  EXPECT_EQ(config.handlers[1].event, "communication.schedule_call");
  EXPECT_EQ(config.handlers[1].channel, "");
}

TEST(LoadPipelineTest, EnvironmentOverridesDefaults) {
  const PipelineConfig config =
      loadPipeline(kDataDir + "/valid.yaml", fakeEnv({{"DATABASE_URL", ""},
                                                      {"EMAIL_CHANNEL", "smtp"},
                                                      {"SMTP_PORT", "2525"},
                                                      {"KAFKA_BROKERS", "k1:9092,k2:9092"}}));
  EXPECT_EQ(config.handlers[0].channel, "smtp");
  EXPECT_EQ(config.channels[0].node["port"].Scalar(), "2525");
  EXPECT_EQ(config.settings.kafka.brokers, "k1:9092,k2:9092");
  EXPECT_EQ(config.settings.database.url, "");
}

TEST(LoadPipelineTest, UnsetVariableNamesItWithLine) {
  try {
    loadPipeline(kDataDir + "/valid.yaml", fakeEnv({}));
    FAIL() << "expected ConfigErrors";
  } catch (const ConfigErrors& e) {
    ASSERT_EQ(e.problems().size(), 1u) << e.what();
    const Problem& p = e.problems()[0];
    EXPECT_EQ(p.line, 5);
    EXPECT_EQ(p.path, "database.url");
    EXPECT_NE(p.message.find("DATABASE_URL"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find(kDataDir + "/valid.yaml:5:"), std::string::npos)
        << e.what();
  }
}

TEST(LoadPipelineTest, MissingFileIsRuntimeError) {
  EXPECT_THROW(loadPipeline(kDataDir + "/does-not-exist.yaml"), std::runtime_error);
}

TEST(LoadPipelineTest, BrokenYamlGivesLineAndColumn) {
  try {
    loadPipeline(kDataDir + "/broken.yaml", fakeEnv({}));
    FAIL() << "expected ConfigErrors";
  } catch (const ConfigErrors& e) {
    ASSERT_EQ(e.problems().size(), 1u);
    EXPECT_EQ(e.problems()[0].line, 4);  // the flow sequence opened on line 3 is never closed
    EXPECT_GT(e.problems()[0].column, 0);
    EXPECT_NE(std::string(e.what()).find("broken.yaml:4:"), std::string::npos) << e.what();
  }
}

TEST(ParsePipelineTest, BrokenYamlMarkIsOneBased) {
  const auto problems = problemsOf("plugins: [a\nkafka: x: y\n");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_GE(problems[0].line, 1);
  EXPECT_GE(problems[0].column, 1);
  EXPECT_NE(problems[0].message.find("invalid YAML"), std::string::npos);
}

TEST(ParsePipelineTest, ThreeProblemsAreAllReported) {
  try {
    loadPipeline(kDataDir + "/three_problems.yaml", fakeEnv({}));
    FAIL() << "expected ConfigErrors";
  } catch (const ConfigErrors& e) {
    ASSERT_EQ(e.problems().size(), 3u) << e.what();
    EXPECT_EQ(e.problems()[0].line, 4);  // unknown kafka key 'partitions'
    EXPECT_NE(e.problems()[0].message.find("unknown key 'partitions'"), std::string::npos);
    EXPECT_EQ(e.problems()[1].line, 6);  // workers out of range
    EXPECT_NE(e.problems()[1].message.find("[1, 256]"), std::string::npos);
    EXPECT_EQ(e.problems()[2].line, 8);  // port not an integer
    EXPECT_EQ(e.problems()[2].path, "http.port");
    // what() has one line per problem.
    const std::string what = e.what();
    EXPECT_EQ(std::count(what.begin(), what.end(), '\n'), 2);
  }
}

TEST(ParsePipelineTest, PluginDirIsAListOrAColonSeparatedString) {
  const std::string base = kMinimal;
  const auto dirs = [&](const std::string& engine) {
    return parsePipeline(base + "engine: " + engine + "\n", "p.yaml", fakeEnv({}))
        .settings.engine.pluginDirs;
  };
  const std::vector<std::string> expected{"a", "/b/c"};
  EXPECT_EQ(dirs("{plugin_dir: [a, /b/c]}"), expected);
  EXPECT_EQ(dirs("{plugin_dir: \"a:/b/c\"}"), expected);
  EXPECT_EQ(dirs("{plugin_dir: \"a::/b/c:\"}"), expected);
  EXPECT_EQ(dirs("{plugin_dir: single}"), std::vector<std::string>{"single"});
}

TEST(ParsePipelineTest, MinimalFileGetsEveryDefault) {
  const PipelineConfig config = parsePipeline(kMinimal, "p.yaml", fakeEnv({}));
  EXPECT_EQ(config.settings.engine.workers, 8);
  EXPECT_EQ(config.settings.engine.maxInFlight, 10000);
  EXPECT_EQ(config.settings.engine.shutdownTimeout.count(), 10000);
  EXPECT_EQ(config.settings.engine.maxRetries, 5);
  EXPECT_EQ(config.settings.engine.retryBackoff.count(), 200);
  EXPECT_EQ(config.settings.engine.retryBackoffMax.count(), 10000);
  EXPECT_TRUE(config.settings.engine.pluginDirs.empty());
  EXPECT_EQ(config.settings.engine.serviceName, "communication-service");
  EXPECT_EQ(config.settings.engine.pauseAfter.count(), 500);
  EXPECT_EQ(config.settings.engine.maxBacklogWait.count(), 5000);
  EXPECT_EQ(config.settings.kafka.topic, "communication-events");
  EXPECT_EQ(config.settings.kafka.group, "communication-service");
  EXPECT_EQ(config.settings.kafka.deadLetterTopic, "communication-events.dlq");
  EXPECT_EQ(config.settings.kafka.embeddedPartitions, 3);
  EXPECT_EQ(config.settings.kafka.bootstrapFile, ".commsvc/kafka-bootstrap");
  EXPECT_EQ(config.settings.kafka.commitInterval.count(), 200);
  EXPECT_EQ(config.settings.kafka.pollBatch, 1000);
  EXPECT_TRUE(config.settings.kafka.properties.empty());
  EXPECT_TRUE(config.settings.kafka.consumerProperties.empty());
  EXPECT_TRUE(config.settings.kafka.producerProperties.empty());
  EXPECT_EQ(config.settings.database.url, "");
  EXPECT_EQ(config.settings.database.poolSize, 4);
  EXPECT_EQ(config.settings.database.connectTimeout.count(), 5);
  EXPECT_TRUE(config.settings.database.genericPlans);
  EXPECT_EQ(config.settings.http.port, 8004);
  EXPECT_EQ(config.settings.http.address, "0.0.0.0");
  EXPECT_TRUE(config.channels.empty());
  EXPECT_TRUE(config.publishers.empty());
  EXPECT_TRUE(config.handlers.empty());
}

TEST(ParsePipelineTest, ConsumerPauseThresholdsAreOptions) {
  const PipelineConfig config = parsePipeline(
      std::string(kMinimal) + "engine: {pause_after_ms: 2000, max_backlog_wait_ms: 800}\n",
      "p.yaml", fakeEnv({}));
  EXPECT_EQ(config.settings.engine.pauseAfter.count(), 2000);
  EXPECT_EQ(config.settings.engine.maxBacklogWait.count(), 800);
  const std::string problems =
      joined(problemsOf(std::string(kMinimal) + "engine: {pause_after_ms: 10}\n"));
  EXPECT_NE(problems.find("pause_after_ms"), std::string::npos) << problems;
}

TEST(ParsePipelineTest, GenericPlansCanBeTurnedOff) {
  const PipelineConfig config = parsePipeline(
      std::string(kMinimal) + "database: {generic_plans: false}\n", "p.yaml", fakeEnv({}));
  EXPECT_FALSE(config.settings.database.genericPlans);
}

TEST(ParsePipelineTest, EveryEngineOptionHasADescription) {
  for (auto options : {engineOptions(), kafkaOptions(), databaseOptions(), httpOptions()}) {
    for (const OptionSpec& spec : options) {
      ASSERT_NE(spec.description, nullptr) << spec.name;
      EXPECT_GT(std::string(spec.description).size(), 5u) << spec.name;
    }
  }
}

TEST(ParsePipelineTest, KafkaPropertiesAreAStringMap) {
  const PipelineConfig config = parsePipeline(R"(
plugins: []
kafka:
  brokers: b:9092
  properties: {security.protocol: SASL_SSL, sasl.password: "${PW}"}
  consumer_properties: {queued.min.messages: 200000}
)",
                                              "p.yaml", fakeEnv({{"PW", "s3cret"}}));
  EXPECT_EQ(config.settings.kafka.properties,
            (std::map<std::string, std::string>{{"security.protocol", "SASL_SSL"},
                                                {"sasl.password", "s3cret"}}));
  EXPECT_EQ(config.settings.kafka.consumerProperties.at("queued.min.messages"), "200000");
}

TEST(ParsePipelineTest, ExpandedValuesValidateAsTheirText) {
  const std::string text = std::string(kMinimal) + "http: {port: \"${HTTP_PORT:-9000}\"}\n";
  EXPECT_EQ(parsePipeline(text, "p.yaml", fakeEnv({})).settings.http.port, 9000);
  EXPECT_EQ(parsePipeline(text, "p.yaml", fakeEnv({{"HTTP_PORT", "81"}})).settings.http.port, 81);
  const auto problems = problemsOf(text, fakeEnv({{"HTTP_PORT", "99999"}}));
  ASSERT_EQ(problems.size(), 1u) << joined(problems);
  EXPECT_EQ(problems[0].path, "http.port");
  EXPECT_EQ(problems[0].line, 3);
  EXPECT_NE(problems[0].message.find("99999 is out of range [0, 65535]"), std::string::npos);
}

TEST(ParsePipelineTest, KeysAreNotExpanded) {
  const std::string text = std::string(kMinimal) + "channels:\n  ${NAME}: {type: log}\n";
  const PipelineConfig config = parsePipeline(text, "p.yaml", fakeEnv({}));
  ASSERT_EQ(config.channels.size(), 1u);
  EXPECT_EQ(config.channels[0].name, "${NAME}");
}

TEST(ParsePipelineTest, ExpansionInsideListsAndNestedMaps) {
  const std::string text = std::string(kMinimal) +
                           "channels:\n  c: {type: log, to: [\"${A:-x}\", b], extra: {k: "
                           "\"${B:-y}\"}}\n";
  const PipelineConfig config = parsePipeline(text, "p.yaml", fakeEnv({}));
  EXPECT_EQ(config.channels[0].node["to"][0].Scalar(), "x");
  EXPECT_EQ(config.channels[0].node["extra"]["k"].Scalar(), "y");
}

TEST(ParsePipelineTest, AliasedScalarIsExpandedOnce) {
  const std::string text =
      std::string(kMinimal) +
      "channels:\n  a: {type: log, v: &V \"$${X}\"}\n  b: {type: log, v: *V}\n";
  const PipelineConfig config = parsePipeline(text, "p.yaml", fakeEnv({{"X", "no"}}));
  EXPECT_EQ(config.channels[0].node["v"].Scalar(), "${X}");
  EXPECT_EQ(config.channels[1].node["v"].Scalar(), "${X}");
}

TEST(ParsePipelineTest, UnknownTopLevelKey) {
  const auto problems = problemsOf(std::string(kMinimal) + "chanels: {}\n");
  ASSERT_EQ(problems.size(), 1u) << joined(problems);
  EXPECT_EQ(problems[0].line, 3);
  EXPECT_EQ(problems[0].message,
            "unknown key 'chanels' (valid keys: plugins, engine, kafka, database, http, channels, "
            "publishers, handlers); did you mean 'channels'?");
  EXPECT_EQ(problems[0].toString().rfind("p.yaml:3:1: unknown key 'chanels'", 0), 0u);
}

TEST(ParsePipelineTest, NoSuggestionForDistantKey) {
  const auto problems = problemsOf(std::string(kMinimal) + "routing: {}\n");
  ASSERT_EQ(problems.size(), 1u) << joined(problems);
  EXPECT_EQ(problems[0].message.find("did you mean"), std::string::npos) << problems[0].message;
}

TEST(ParsePipelineTest, MissingRequiredSections) {
  const auto problems = problemsOf("engine: {workers: 2}\n");
  ASSERT_EQ(problems.size(), 2u) << joined(problems);
  EXPECT_TRUE(anyContains(problems, "missing required key 'plugins'"));
  EXPECT_TRUE(anyContains(problems, "missing required key 'kafka'"));
}

TEST(ParsePipelineTest, EmptyDocument) {
  const auto problems = problemsOf("");
  EXPECT_EQ(problems.size(), 2u) << joined(problems);
}

TEST(ParsePipelineTest, TopLevelMustBeAMapping) {
  const auto problems = problemsOf("- a\n- b\n");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].message.find("top level"), std::string::npos);
}

TEST(ParsePipelineTest, MissingBrokers) {
  const auto problems = problemsOf("plugins: []\nkafka: {topic: t}\n");
  ASSERT_EQ(problems.size(), 1u) << joined(problems);
  EXPECT_EQ(problems[0].path, "kafka");
  EXPECT_NE(problems[0].message.find("missing required key 'brokers'"), std::string::npos);
}

TEST(ParsePipelineTest, PluginsMustBeAListOfDistinctNames) {
  EXPECT_TRUE(anyContains(problemsOf("plugins: email\nkafka: {brokers: b}\n"),
                          "expected a list of plugin names"));
  EXPECT_TRUE(anyContains(problemsOf("plugins: [a, {b: c}]\nkafka: {brokers: b}\n"),
                          "plugins[1]: expected a plugin name"));
  EXPECT_TRUE(anyContains(problemsOf("plugins: [a, a]\nkafka: {brokers: b}\n"), "listed twice"));
}

// A path in plugins: loaded any .so on the machine.
TEST(ParsePipelineTest, PluginsArePlainNamesNotPaths) {
  for (const char* name :
       {"../../../elsewhere/x", "/tmp/x", "sub/email", "email.so", "..", "a b", "~x"}) {
    const auto problems =
        problemsOf(std::string("plugins: [\"") + name + "\"]\nkafka: {brokers: b}\n");
    EXPECT_TRUE(
        anyContains(problems, "plugins[0]: '" + std::string(name) + "' is not a plugin name"))
        << name << ": " << joined(problems);
  }
  EXPECT_NO_THROW(parsePipeline("plugins: [transport-smtp, publisher_x2]\nkafka: {brokers: b}\n",
                                "p.yaml", fakeEnv({})));
}

TEST(ParsePipelineTest, BackoffMaxBelowBase) {
  const auto problems = problemsOf(std::string(kMinimal) +
                                   "engine: {retry_backoff_ms: 500, retry_backoff_max_ms: 100}\n");
  ASSERT_EQ(problems.size(), 1u) << joined(problems);
  EXPECT_EQ(problems[0].path, "engine.retry_backoff_max_ms");
}

TEST(ParsePipelineTest, ChannelNeedsType) {
  const auto problems =
      problemsOf(std::string(kMinimal) + "channels:\n  a: {host: x}\n  b: log\n  c: {type: [x]}\n");
  ASSERT_EQ(problems.size(), 3u) << joined(problems);
  EXPECT_EQ(problems[0].path, "channels.a");
  EXPECT_NE(problems[0].message.find("missing required key 'type'"), std::string::npos);
  EXPECT_EQ(problems[1].path, "channels.b");
  EXPECT_NE(problems[1].message.find("expected a mapping with a 'type'"), std::string::npos);
  EXPECT_EQ(problems[2].path, "channels.c.type");
}

TEST(ParsePipelineTest, PublisherNeedsType) {
  const auto problems = problemsOf(std::string(kMinimal) + "publishers:\n  events: {}\n");
  ASSERT_EQ(problems.size(), 1u) << joined(problems);
  EXPECT_EQ(problems[0].path, "publishers.events");
}

TEST(ParsePipelineTest, HandlerNeedsEventAndType) {
  const auto problems = problemsOf(std::string(kMinimal) + "handlers:\n  - {channel: x}\n  - 3\n");
  EXPECT_TRUE(anyContains(problems, "handlers[0]: missing required key 'event'"));
  EXPECT_TRUE(anyContains(problems, "handlers[0]: missing required key 'type'"));
  EXPECT_TRUE(anyContains(problems, "handlers[1]: expected a mapping"));
}

TEST(ParsePipelineTest, HandlerNamingUnknownChannel) {
  const auto problems = problemsOf(std::string(kMinimal) + R"(channels:
  log: {type: log}
  mock: {type: mock}
publishers:
  events: {type: kafka}
handlers:
  - {event: e1, type: email, channel: smtp, publisher: evnts}
)");
  ASSERT_EQ(problems.size(), 2u) << joined(problems);
  EXPECT_EQ(problems[0].path, "handlers[0].channel");
  EXPECT_EQ(problems[0].line, 9);
  EXPECT_EQ(problems[0].message, "channel 'smtp' is not declared (declared channels: log, mock)");
  EXPECT_EQ(problems[1].path, "handlers[0].publisher");
  EXPECT_EQ(problems[1].message, "publisher 'evnts' is not declared (declared publishers: events)");
}

TEST(ParsePipelineTest, HandlerChannelWithNoChannelsDeclared) {
  const auto problems = problemsOf(std::string(kMinimal) +
                                   "handlers:\n  - {event: e, type: t, channel: \"${C:-log}\"}\n");
  ASSERT_EQ(problems.size(), 1u) << joined(problems);
  EXPECT_NE(problems[0].message.find("'log' is not declared (no channels are declared)"),
            std::string::npos);
}

TEST(ParsePipelineTest, EmptyChannelAfterExpansionMeansNone) {
  const PipelineConfig config = parsePipeline(
      std::string(kMinimal) + "handlers:\n  - {event: e, type: t, channel: \"${C:-}\"}\n", "p.yaml",
      fakeEnv({}));
  EXPECT_EQ(config.handlers[0].channel, "");
}

TEST(ParsePipelineTest, DuplicateEvent) {
  const auto problems = problemsOf(std::string(kMinimal) +
                                   "handlers:\n  - {event: e, type: a}\n  - {event: e, type: b}\n");
  ASSERT_EQ(problems.size(), 1u) << joined(problems);
  EXPECT_EQ(problems[0].line, 5);
  EXPECT_EQ(problems[0].path, "handlers[1].event");
  EXPECT_EQ(problems[0].message, "event 'e' is already handled by handlers[0]");
}

TEST(ParsePipelineTest, DuplicateChannelName) {
  const auto problems =
      problemsOf(std::string(kMinimal) + "channels:\n  a: {type: log}\n  a: {type: mock}\n");
  ASSERT_EQ(problems.size(), 1u) << joined(problems);
  EXPECT_NE(problems[0].message.find("declared twice"), std::string::npos);
}

TEST(ParsePipelineTest, ProblemsAreInFileOrder) {
  const auto problems = problemsOf(R"(plugins: [a]
kafka: {brokers: "${NOPE}"}
engine: {workers: 0}
bogus: 1
)");
  ASSERT_EQ(problems.size(), 3u) << joined(problems);
  EXPECT_EQ(problems[0].line, 2);
  EXPECT_EQ(problems[1].line, 3);
  EXPECT_EQ(problems[2].line, 4);
}

// The engine validates plugin blocks later with the plugin's own options:
// the kept node must still report the line of each key.
struct SmtpSample {
  std::string host;
  std::int64_t port = 587;
};
constexpr auto kSmtpOptions =
    optionList(Option<SmtpSample>::field<&SmtpSample::host>("host", "h").required(),
               Option<SmtpSample>::field<&SmtpSample::port>("port", "p").range(1, 65535));

TEST(ParsePipelineTest, PluginBlockKeepsLinesForLaterValidation) {
  const PipelineConfig config = parsePipeline(std::string(kMinimal) + R"(channels:
  smtp:
    type: smtp
    host: "${SMTP_HOST:-localhost}"
    prot: 25
    port: "${SMTP_PORT:-70000}"
)",
                                              "p.yaml", fakeEnv({}));
  const PluginBlock& block = config.channels.at(0);
  EXPECT_EQ(block.line, 5);
  std::vector<Problem> problems;
  const Config smtp = validateBlock(block.node, kSmtpOptions.span(), kChannelEngineKeys,
                                    config.file, block.path, problems);
  ASSERT_EQ(problems.size(), 2u) << joined(problems);
  EXPECT_EQ(problems[0].toString(),
            "p.yaml:7:5: channels.smtp: unknown key 'prot' (valid keys: type, host, port); did "
            "you mean 'port'?");
  EXPECT_EQ(problems[1].line, 8);
  EXPECT_EQ(problems[1].path, "channels.smtp.port");
  EXPECT_NE(problems[1].message.find("70000 is out of range [1, 65535]"), std::string::npos);
  EXPECT_EQ(smtp.settings(kSmtpOptions).host, "localhost");
  EXPECT_EQ(smtp.where(), "p.yaml:5");
}

}  // namespace
}  // namespace commsvc::config
