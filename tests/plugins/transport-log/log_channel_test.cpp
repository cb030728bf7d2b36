#include "log_channel.hpp"

#include <gtest/gtest.h>

#include "commsvc/testing/fake_context.hpp"

namespace commsvc::plugins::transport_log {
namespace {

using commsvc::testing::RecordingLogger;

Message sampleMessage() {
  Message message;
  message.id = "42";
  message.fromAddress = "noreply@example.org";
  message.toAddress = "ada@example.org";
  message.subject = "Hello";
  message.textBody = "Hi Ada";
  message.htmlBody = "<p>Hi Ada</p>";
  return message;
}

TEST(LogChannelTest, OptionsAreDeclaredSoundly) {
  EXPECT_TRUE(optionDeclarationProblems(kOptions.span()).empty());
  ASSERT_EQ(kOptions.specs.size(), 1u);
  EXPECT_STREQ(kOptions.specs[0].name, "log_body");
  EXPECT_EQ(describeDefault(kOptions.specs[0]), "false");
}

TEST(LogChannelTest, LogsMessageFieldsAndDelivers) {
  RecordingLogger logger;
  LogChannel channel(logger, LogChannelSettings{.logBody = false});

  const DeliveryResult result = channel.deliver(sampleMessage());

  EXPECT_TRUE(result.ok());
  EXPECT_TRUE(result.detail.empty());
  const auto lines = logger.entries();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].level, LogLevel::Info);
  EXPECT_EQ(lines[0].field("id"), "42");
  EXPECT_EQ(lines[0].field("from"), "noreply@example.org");
  EXPECT_EQ(lines[0].field("to"), "ada@example.org");
  EXPECT_EQ(lines[0].field("subject"), "Hello");
  EXPECT_EQ(lines[0].field("text_bytes"), "6");
  EXPECT_EQ(lines[0].field("html_bytes"), "13");
  EXPECT_FALSE(lines[0].hasField("body"));
}

TEST(LogChannelTest, LogsBodyWhenAsked) {
  RecordingLogger logger;
  LogChannel channel(logger, LogChannelSettings{.logBody = true});

  EXPECT_TRUE(channel.deliver(sampleMessage()).ok());

  const auto lines = logger.entries();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].field("body"), "Hi Ada");
}

TEST(LogChannelTest, DeliversWithoutLoggingWhenInfoDisabled) {
  RecordingLogger logger;
  logger.setMinLevel(LogLevel::Warn);
  LogChannel channel(logger, LogChannelSettings{.logBody = true});

  EXPECT_TRUE(channel.deliver(sampleMessage()).ok());
  EXPECT_TRUE(logger.entries().empty());
}

}  // namespace
}  // namespace commsvc::plugins::transport_log
