#include "log_publisher.hpp"

#include <gtest/gtest.h>

#include "commsvc/testing/fake_context.hpp"

namespace commsvc::plugins::publisher_log {
namespace {

using commsvc::testing::RecordingLogger;

TEST(LogPublisherTest, LogsEventAndReportsOk) {
  RecordingLogger logger;
  LogPublisher publisher(logger);
  Event event = makeEvent("communication.email_sent", "7", R"({"emailId":7})");
  const std::string id = event.id;

  int calls = 0;
  bool ok = false;
  std::string error = "unset";
  publisher.publish(std::move(event), [&](const PublishResult& result) {
    ++calls;
    ok = result.ok();
    error = result.error;
  });

  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(ok);
  EXPECT_TRUE(error.empty());
  const auto lines = logger.entries();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].level, LogLevel::Info);
  EXPECT_EQ(lines[0].field("type"), "communication.email_sent");
  EXPECT_EQ(lines[0].field("key"), "7");
  EXPECT_EQ(lines[0].field("id"), id);
  EXPECT_EQ(lines[0].field("payload"), R"({"emailId":7})");
}

TEST(LogPublisherTest, AcceptsMissingCallbackAndFlushes) {
  RecordingLogger logger;
  LogPublisher publisher(logger);
  publisher.publish(makeEvent("t", "1", "{}"), nullptr);
  EXPECT_EQ(logger.entries().size(), 1u);
  EXPECT_TRUE(publisher.flush(std::chrono::milliseconds(0)));
}

}  // namespace
}  // namespace commsvc::plugins::publisher_log
