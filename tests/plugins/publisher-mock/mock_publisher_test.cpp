#include "mock_publisher.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <vector>

#include "commsvc/config.hpp"
#include "commsvc/testing/temp_file.hpp"

namespace commsvc::plugins::publisher_mock {
namespace {

using commsvc::testing::TempFile;

TEST(MockPublisherTest, WritesKeyAndEnvelope) {
  TempFile file("mock-publisher");
  MockPublisher publisher({.file = file.path()});
  Event event = makeEvent("communication.email_sent", "42", R"({"emailId":42,"to":"a@b.c"})",
                          "communication-service");
  const Event copy = event;

  int calls = 0;
  bool ok = false;
  publisher.publish(std::move(event), [&](const PublishResult& result) {
    ++calls;
    ok = result.ok();
    EXPECT_TRUE(result.error.empty());
  });

  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(ok);
  const auto lines = file.lines();
  ASSERT_EQ(lines.size(), 1u);
  const auto line = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(line["key"], "42");
  const auto& envelope = line["envelope"];
  EXPECT_EQ(envelope["eventId"], copy.id);
  EXPECT_EQ(envelope["eventType"], "communication.email_sent");
  EXPECT_EQ(envelope["version"], "1.0");
  EXPECT_EQ(envelope["timestamp"], copy.timestamp);
  EXPECT_EQ(envelope["producer"], "communication-service");
  EXPECT_EQ(envelope["payload"], nlohmann::json::parse(R"({"emailId":42,"to":"a@b.c"})"));
  EXPECT_EQ(nlohmann::json::parse(toEnvelopeJson(copy)), envelope);
}

TEST(MockPublisherTest, EscapesKeyAndAppendsWithoutCallback) {
  TempFile file("mock-publisher");
  MockPublisher publisher({.file = file.path()});
  publisher.publish(makeEvent("t", "a\"b\\c", "{}"), nullptr);
  publisher.publish(makeEvent("t", "second", "{}"), nullptr);
  EXPECT_TRUE(publisher.flush(std::chrono::milliseconds(0)));

  const auto lines = file.lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(lines[0])["key"], "a\"b\\c");
  EXPECT_EQ(nlohmann::json::parse(lines[1])["key"], "second");
}

TEST(MockPublisherTest, ConcurrentPublishesWriteWholeLines) {
  TempFile file("mock-publisher");
  MockPublisher publisher({.file = file.path()});
  constexpr int kThreads = 8;
  constexpr int kPerThread = 1000;

  std::atomic<int> acknowledged{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string key = std::to_string(t * kPerThread + i);
        publisher.publish(makeEvent("t", key, R"({"n":)" + key + "}"),
                          [&](const PublishResult& result) {
                            if (result.ok()) ++acknowledged;
                          });
      }
    });
  }
  for (auto& thread : threads) thread.join();

  EXPECT_EQ(acknowledged.load(), kThreads * kPerThread);
  const auto lines = file.lines();
  ASSERT_EQ(lines.size(), static_cast<size_t>(kThreads * kPerThread));
  std::set<std::string> keys;
  for (const auto& text : lines) {
    const auto line = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(line.is_discarded()) << text;
    EXPECT_EQ(line["envelope"]["payload"]["n"].get<int>(),
              std::stoi(line["key"].get<std::string>()));
    keys.insert(line["key"].get<std::string>());
  }
  EXPECT_EQ(keys.size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST(MockPublisherTest, UnopenableFileIsAConfigError) {
  EXPECT_THROW(MockPublisher({.file = "/nonexistent-dir/events.jsonl"}), ConfigError);
}

TEST(MockPublisherTest, OptionsAreDeclaredSoundly) {
  EXPECT_TRUE(optionDeclarationProblems(kOptions.span()).empty());
  ASSERT_EQ(kOptions.specs.size(), 1u);
  EXPECT_STREQ(kOptions.specs[0].name, "file");
  EXPECT_EQ(describeDefault(kOptions.specs[0]), "\"mock-events.jsonl\"");
}

}  // namespace
}  // namespace commsvc::plugins::publisher_mock
