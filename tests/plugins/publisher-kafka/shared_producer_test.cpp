// The `kafka` publisher on the engine's shared producer (Context::kafkaProducer()):
// one librdkafka client for the dead-letter path and every publisher.

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kafka/embedded_broker.hpp"
#include "kafka/producer.hpp"
#include "kafka_publisher.hpp"

namespace commsvc::plugins::publisher_kafka {
namespace {

using namespace std::chrono_literals;

/// Drops every line.
class QuietLogger : public Logger {
 public:
  using Logger::log;
  void log(LogLevel, std::string_view, const LogFields&) override {}
  bool enabled(LogLevel) const override { return false; }
};

TEST(SharedProducerTest, PublisherAndRawSendsShareOneClientAndEachFlushesItsOwn) {
  kafka::EmbeddedBroker broker(1, {{"communication-events", 2}, {"dlq", 1}});
  QuietLogger logger;
  kafka::RawProducer producer({{"bootstrap.servers", broker.bootstrapServers()}}, logger);
  std::atomic<int> published{0};
  std::atomic<int> raw{0};
  {
    KafkaPublisher publisher(producer.client(), "communication-events", 10s, logger);
    EXPECT_TRUE(publisher.shared());
    EXPECT_EQ(publisher.topic(), "communication-events");
    for (int i = 0; i < 20; ++i) {
      publisher.publish(makeEvent("email.sent", std::to_string(i), "{}"),
                        [&](const PublishResult& r) {
                          if (r.ok()) published++;
                        });
      producer.send("dlq", "k", "v", {{"x-dlq-reason", "not_json"}},
                    [&](bool ok, const std::string&) {
                      if (ok) raw++;
                    });
    }
    EXPECT_TRUE(publisher.flush(10s));
    EXPECT_EQ(published.load(), 20);
  }
  EXPECT_TRUE(producer.flush(10s));
  EXPECT_EQ(raw.load(), 20);
  EXPECT_EQ(producer.outstanding(), 0);
}

TEST(SharedProducerTest, ClosedHandleFailsItsRecordsOnceAndTheProducerLivesOn) {
  QuietLogger logger;
  // Nothing listens on port 1: records stay queued.
  auto producer = std::make_unique<kafka::RawProducer>(
      kafka::Properties{{"bootstrap.servers", "127.0.0.1:1"}}, logger, 0ms);
  std::mutex mutex;
  std::vector<PublishResult> results;
  {
    KafkaPublisher publisher(producer->client(), "t", 100ms, logger);
    for (int i = 0; i < 3; ++i) {
      publisher.publish(makeEvent("x.y", "1", "{}"), [&](const PublishResult& r) {
        std::lock_guard lock(mutex);
        results.push_back(r);
      });
    }
    EXPECT_FALSE(publisher.flush(50ms));
  }  // waits 100 ms, then fails the three
  {
    std::lock_guard lock(mutex);
    ASSERT_EQ(results.size(), 3u);
    for (const auto& r : results) {
      EXPECT_EQ(r.status, PublishResult::Status::Failed);
      EXPECT_FALSE(r.error.empty());
    }
  }
  EXPECT_EQ(producer->outstanding(), 3);  // still the producer's, not the handle's
  producer.reset();                       // purges them: no second report
  EXPECT_EQ(results.size(), 3u);
}

}  // namespace
}  // namespace commsvc::plugins::publisher_kafka
