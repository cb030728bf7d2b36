#include "mock_channel.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "commsvc/config.hpp"
#include "commsvc/testing/fake_context.hpp"
#include "commsvc/testing/temp_file.hpp"

namespace commsvc::plugins::transport_mock {
namespace {

using commsvc::testing::InMemoryMetrics;
using commsvc::testing::TempFile;

Message messageNumber(int n) {
  Message message;
  message.id = std::to_string(n);
  message.fromAddress = "noreply@example.org";
  message.fromName = "Platform";
  message.toAddress = "user" + std::to_string(n) + "@example.org";
  message.toName = "User \"" + std::to_string(n) + "\"";
  message.subject = "Subject " + std::to_string(n);
  message.textBody = "line one\nline two";
  message.htmlBody = "<p>hi</p>";
  return message;
}

MockChannelSettings settingsFor(const TempFile& file, FailureMode fail = FailureMode::None,
                                std::int64_t failEvery = 1) {
  MockChannelSettings settings;
  settings.file = file.path();
  settings.fail = fail;
  settings.failEvery = failEvery;
  settings.failMessage = "simulated";
  return settings;
}

TEST(MockChannelTest, WritesOneParsableLinePerMessage) {
  TempFile file("mock-channel");
  InMemoryMetrics metrics;
  MockChannel channel(settingsFor(file), metrics);

  EXPECT_TRUE(channel.deliver(messageNumber(1)).ok());
  EXPECT_TRUE(channel.deliver(messageNumber(2)).ok());

  const auto lines = file.lines();
  ASSERT_EQ(lines.size(), 2u);
  const auto first = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(first["id"], "1");
  EXPECT_EQ(first["from"], "noreply@example.org");
  EXPECT_EQ(first["fromName"], "Platform");
  EXPECT_EQ(first["to"], "user1@example.org");
  EXPECT_EQ(first["toName"], "User \"1\"");
  EXPECT_EQ(first["subject"], "Subject 1");
  EXPECT_EQ(first["textBody"], "line one\nline two");
  EXPECT_EQ(first["htmlBody"], "<p>hi</p>");
  EXPECT_EQ(nlohmann::json::parse(lines[1])["id"], "2");
  EXPECT_EQ(file.content().back(), '\n');
  EXPECT_EQ(metrics.counterValue("mock_channel_delivered_total"), 2);
  EXPECT_EQ(metrics.counterValue("mock_channel_failed_total"), 0);
}

TEST(MockChannelTest, AppendsToAnExistingFile) {
  TempFile file("mock-channel");
  InMemoryMetrics metrics;
  {
    MockChannel channel(settingsFor(file), metrics);
    EXPECT_TRUE(channel.deliver(messageNumber(1)).ok());
  }
  MockChannel channel(settingsFor(file), metrics);
  EXPECT_TRUE(channel.deliver(messageNumber(2)).ok());
  EXPECT_EQ(file.lines().size(), 2u);
}

TEST(MockChannelTest, FailEveryThirdFailsDeliveriesThreeSixNine) {
  TempFile file("mock-channel");
  InMemoryMetrics metrics;
  MockChannel channel(settingsFor(file, FailureMode::Transient, 3), metrics);

  std::vector<int> failed;
  for (int n = 1; n <= 9; ++n) {
    const DeliveryResult result = channel.deliver(messageNumber(n));
    if (!result.ok()) {
      failed.push_back(n);
      EXPECT_EQ(result.status, DeliveryResult::Status::TransientFailure);
      EXPECT_EQ(result.detail, "simulated");
    }
  }

  EXPECT_EQ(failed, (std::vector<int>{3, 6, 9}));
  const auto lines = file.lines();
  ASSERT_EQ(lines.size(), 6u);
  std::vector<std::string> ids;
  for (const auto& line : lines) ids.push_back(nlohmann::json::parse(line)["id"]);
  EXPECT_EQ(ids, (std::vector<std::string>{"1", "2", "4", "5", "7", "8"}));
  EXPECT_EQ(metrics.counterValue("mock_channel_delivered_total"), 6);
  EXPECT_EQ(metrics.counterValue("mock_channel_failed_total"), 3);
}

TEST(MockChannelTest, PermanentFailureOnEveryDeliveryWritesNothing) {
  TempFile file("mock-channel");
  InMemoryMetrics metrics;
  MockChannel channel(settingsFor(file, FailureMode::Permanent, 1), metrics);

  for (int n = 1; n <= 5; ++n) {
    const DeliveryResult result = channel.deliver(messageNumber(n));
    EXPECT_EQ(result.status, DeliveryResult::Status::PermanentFailure);
    EXPECT_EQ(result.detail, "simulated");
  }
  EXPECT_TRUE(file.lines().empty());
  EXPECT_EQ(metrics.counterValue("mock_channel_failed_total"), 5);
}

TEST(MockChannelTest, FailNoneIgnoresFailEvery) {
  TempFile file("mock-channel");
  InMemoryMetrics metrics;
  MockChannel channel(settingsFor(file, FailureMode::None, 1), metrics);
  for (int n = 1; n <= 4; ++n) EXPECT_TRUE(channel.deliver(messageNumber(n)).ok());
  EXPECT_EQ(file.lines().size(), 4u);
}

TEST(MockChannelTest, ConcurrentDeliveriesWriteWholeLines) {
  TempFile file("mock-channel");
  InMemoryMetrics metrics;
  MockChannel channel(settingsFor(file), metrics);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 1000;

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&channel, t] {
      for (int i = 0; i < kPerThread; ++i) {
        Message message = messageNumber(t * kPerThread + i);
        message.textBody = std::string(200 + i % 50, 'x');  // lines of varied length
        ASSERT_TRUE(channel.deliver(message).ok());
      }
    });
  }
  for (auto& thread : threads) thread.join();

  const auto lines = file.lines();
  ASSERT_EQ(lines.size(), static_cast<size_t>(kThreads * kPerThread));
  std::set<std::string> ids;
  for (const auto& line : lines) {
    const auto parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(parsed.is_discarded()) << line;
    ids.insert(parsed["id"].get<std::string>());
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(metrics.counterValue("mock_channel_delivered_total"), kThreads * kPerThread);
}

TEST(MockChannelTest, InvalidUtf8IsWrittenNotThrown) {
  TempFile file("mock-channel");
  InMemoryMetrics metrics;
  MockChannel channel(settingsFor(file), metrics);
  Message message = messageNumber(1);
  message.subject = "bad \xff byte";
  EXPECT_TRUE(channel.deliver(message).ok());
  const auto lines = file.lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_FALSE(nlohmann::json::parse(lines[0], nullptr, false).is_discarded());
}

TEST(MockChannelTest, UnopenableFileIsAConfigError) {
  InMemoryMetrics metrics;
  MockChannelSettings settings;
  settings.file = "/nonexistent-dir/outbox.jsonl";
  EXPECT_THROW(MockChannel(settings, metrics), ConfigError);
}

/// The FailureMode the `fail` option's text `text` selects; nullopt when
/// the engine refuses the text.
std::optional<FailureMode> failureModeOf(std::string_view text) {
  const OptionSpec& fail = kOptions.specs[1];
  EXPECT_STREQ(fail.name, "fail");
  const OptionChoice* found = fail.findChoice(text);
  if (found == nullptr) return std::nullopt;
  return static_cast<FailureMode>(found->value);
}

TEST(MockChannelTest, ParsesFailureModes) {
  EXPECT_EQ(failureModeOf("none"), FailureMode::None);
  EXPECT_EQ(failureModeOf("transient"), FailureMode::Transient);
  EXPECT_EQ(failureModeOf("permanent"), FailureMode::Permanent);
  EXPECT_EQ(failureModeOf("sometimes"), std::nullopt);
}

TEST(MockChannelTest, OptionsAreDeclaredSoundlyWithTheirDefaults) {
  EXPECT_TRUE(optionDeclarationProblems(kOptions.span()).empty());
  std::vector<std::string> described;
  for (const OptionSpec& spec : kOptions.specs) {
    described.push_back(std::string(spec.name) + "=" + describeDefault(spec));
  }
  EXPECT_EQ(described, (std::vector<std::string>{"file=\"mock-outbox.jsonl\"", "fail=\"none\"",
                                                 "fail_every=1", "fail_message=\"mock failure\""}));
}

}  // namespace
}  // namespace commsvc::plugins::transport_mock
