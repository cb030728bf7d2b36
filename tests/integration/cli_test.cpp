// The commsvc binary's commands, run as a user would run them.
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "harness.hpp"

namespace commsvc::integration {
namespace {

using namespace std::chrono_literals;

const std::string kData = COMMSVC_TEST_DATA_DIR;

std::pair<int, std::string> commsvc(std::vector<std::string> args) {
  args.insert(args.begin(), {commsvcBinary(), "--plugin-dir", pluginPath()});
  return runCommand(args);
}

TEST(Cli, TheShippedPipelinesYamlIsValid) {
  const auto [code, out] =
      runCommand({"env", "KAFKA_BROKERS=embedded", "EMAIL_CHANNEL=smtp",
                  "DATABASE_URL=postgresql://postgres@127.0.0.1:1/x", commsvcBinary(), "validate",
                  "-c", std::string(COMMSVC_SOURCE_DIR) + "/pipelines.yaml"});
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("valid"), std::string::npos) << out;
}

// The shipped file is the production file: with EMAIL_CHANNEL unset it sent
// every email to the log channel (Gesendet, email.sent, nothing delivered),
// and with KAFKA_BROKERS unset to an in-process broker.
TEST(Cli, TheShippedPipelinesYamlHasNoSilentFallbacks) {
  const auto [code, out] = runCommand({"env", "-u", "KAFKA_BROKERS", "-u", "EMAIL_CHANNEL", "-u",
                                       "DATABASE_URL", commsvcBinary(), "validate", "-c",
                                       std::string(COMMSVC_SOURCE_DIR) + "/pipelines.yaml"});
  EXPECT_EQ(code, 1) << out;
  for (const char* variable : {"KAFKA_BROKERS", "EMAIL_CHANNEL", "DATABASE_URL"}) {
    EXPECT_NE(out.find(variable), std::string::npos) << variable << " not named: " << out;
  }
}

TEST(Cli, UnknownKeyInAChannelBlockIsRefusedWithLineAndValidKeys) {
  const auto [code, out] = commsvc({"validate", "-c", kData + "/unknown-channel-key.yaml"});
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("unknown-channel-key.yaml:9:"), std::string::npos) << out;
  EXPECT_NE(out.find("'fial_every'"), std::string::npos) << out;
  EXPECT_NE(out.find("fail_every"), std::string::npos) << out;
  EXPECT_NE(out.find("fail_message"), std::string::npos) << "valid keys are listed: " << out;
}

TEST(Cli, BrokenYamlIsRefusedWithALineNumber) {
  const auto [code, out] = commsvc({"validate", "-c", kData + "/broken.yaml"});
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("broken.yaml:6:"), std::string::npos) << out;
}

TEST(Cli, EveryProblemIsReportedAtOnce) {
  const auto [code, out] = commsvc({"validate", "-c", kData + "/many-problems.yaml"});
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("workers"), std::string::npos) << "out of range: " << out;
  EXPECT_NE(out.find("'nowhere'"), std::string::npos) << "unknown channel: " << out;
  EXPECT_NE(out.find("NOT_SET_ANYWHERE_42"), std::string::npos) << "unset variable: " << out;
  EXPECT_NE(out.find("carrier-pigeon"), std::string::npos)
      << "plugin problems come in the same run as structural ones: " << out;
}

TEST(Cli, ValidateRefusesPluginsWithAnotherAbiOrNoDescriptor) {
  const auto [code, out] = commsvc({"validate", "-c", kData + "/bad-plugins.yaml"});
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("bad-abi.so: built for plugin ABI version"), std::string::npos) << out;
  EXPECT_NE(out.find("no-descriptor.so: not a commsvc plugin"), std::string::npos) << out;
}

TEST(Cli, AFactoryThatThrowsIsAClearStartupError) {
  const auto [code, out] = commsvc({"run", "-c", kData + "/throwing-factory.yaml"});
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("channels.broken"), std::string::npos) << out;
  EXPECT_NE(out.find("factory failed on purpose"), std::string::npos) << out;
}

TEST(Cli, PluginsListsKindsNamesAndOptions) {
  const auto [code, out] = runCommand({commsvcBinary(), "plugins"});
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("channel 'mock'"), std::string::npos) << out;
  EXPECT_NE(out.find("fail_every (integer, default 1, 1..1000000)"), std::string::npos) << out;
  EXPECT_NE(out.find("fail (string, default \"none\", one of none, transient, permanent)"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("publisher 'kafka'"), std::string::npos) << out;
}

TEST(Cli, VersionAndHelp) {
  const auto [vcode, version] = runCommand({commsvcBinary(), "--version"});
  EXPECT_EQ(vcode, 0);
  EXPECT_NE(version.find("commsvc "), std::string::npos) << version;
  const auto [hcode, help] = runCommand({commsvcBinary(), "--help"});
  EXPECT_EQ(hcode, 0);
  for (const char* command : {"run", "validate", "plugins", "produce", "broker"}) {
    EXPECT_NE(help.find(command), std::string::npos) << command;
  }
}

TEST(Cli, JsonLogFormatWritesOneObjectPerLine) {
  ScratchDir dir("jsonlog");
  Process broker({commsvcBinary(), "--log-format", "json", "broker", "--bootstrap-file",
                  (dir / "bootstrap").string()},
                 dir / "broker.log");
  ASSERT_TRUE(waitFor([&] { return !readFile(dir / "bootstrap").empty(); }, 10s));
  broker.signal(SIGTERM);
  ASSERT_EQ(broker.wait(10s), 0) << broker.log();
  bool found = false;
  std::istringstream lines(broker.log());
  for (std::string line; std::getline(lines, line);) {
    if (line.find("embedded Kafka broker running") == std::string::npos) continue;
    const auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j.at("level"), "info");
    EXPECT_EQ(j.at("logger"), "broker");
    EXPECT_EQ(j.at("bootstrap"), readLines(dir / "bootstrap").at(0)) << "fields become members";
    EXPECT_TRUE(j.contains("ts"));
    found = true;
  }
  EXPECT_TRUE(found) << broker.log();
  const auto [badCode, badOut] = runCommand({commsvcBinary(), "--log-format", "xml", "plugins"});
  EXPECT_NE(badCode, 0) << badOut;
}

TEST(Cli, ProducePutsAWellFormedEnvelopeOnTheTopic) {
  ScratchDir dir("produce");
  BrokerProcess broker(dir, {"events"}, 1);
  writeFile(dir / "p.yaml",
            "plugins: []\nkafka: { brokers: \"" + broker.bootstrap() + "\", topic: events }\n");
  const auto [code, out] =
      runCommand({commsvcBinary(), "produce", "-c", (dir / "p.yaml").string(), "--type",
                  "communication.send_email", "--key", "42", "--payload", "{\"email_id\": 42}"});
  ASSERT_EQ(code, 0) << out;
  const auto records = consumeWithKcat(broker.bootstrap(), "events");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].substr(0, 3), "42\t");
  EXPECT_NE(records[0].find("\"eventType\":\"communication.send_email\""), std::string::npos);
  EXPECT_NE(records[0].find("\"payload\":{\"email_id\":42}"), std::string::npos) << records[0];

  const auto [badCode, badOut] =
      runCommand({commsvcBinary(), "produce", "-c", (dir / "p.yaml").string(), "--type", "x",
                  "--key", "1", "--payload", "[1]"});
  EXPECT_EQ(badCode, 2) << badOut;
  EXPECT_NE(badOut.find("JSON object"), std::string::npos) << badOut;
}

}  // namespace
}  // namespace commsvc::integration
