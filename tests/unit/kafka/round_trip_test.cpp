// RawProducer → mock cluster (TCP) → KafkaSource, with a real consumer group.

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "capture_logger.hpp"
#include "kafka/consumer.hpp"
#include "kafka/embedded_broker.hpp"
#include "kafka/envelope.hpp"
#include "kafka/producer.hpp"

namespace commsvc::kafka {
namespace {

using namespace std::chrono_literals;

/// Records what the group tells the source.
class RecordingListener : public RebalanceListener {
 public:
  void onAssigned(const std::vector<PartitionOffset>& partitions) override {
    assigned += static_cast<int>(partitions.size());
  }
  void onRevoked(const std::vector<PartitionOffset>& partitions) override {
    revoked += static_cast<int>(partitions.size());
  }
  void onCommitted(const std::vector<PartitionOffset>& offsets, const std::string& error) override {
    std::lock_guard lock(mutex);
    commits.push_back(offsets);
    errors.push_back(error);
  }

  std::atomic<int> assigned{0};
  std::atomic<int> revoked{0};
  std::mutex mutex;
  std::vector<std::vector<PartitionOffset>> commits;
  std::vector<std::string> errors;
};

Properties consumerProps(const EmbeddedBroker& broker, const std::string& group) {
  return {{"bootstrap.servers", broker.bootstrapServers()},
          {"group.id", group},
          {"session.timeout.ms", "3000"},
          {"heartbeat.interval.ms", "500"}};
}

/// Produces `count` envelopes with keys "k<i % keys>"; waits for every report.
void produce(RawProducer& producer, const std::string& topic, int count, int keys) {
  std::atomic<int> ok{0};
  for (int i = 0; i < count; ++i) {
    const std::string value =
        R"({"eventType":"test.event","payload":{"seq":)" + std::to_string(i) + "}}";
    producer.send(topic, "k" + std::to_string(i % keys), value,
                  {{"seq", std::to_string(i)}, {"empty", ""}},
                  [&ok](bool delivered, const std::string&) { ok += delivered ? 1 : 0; });
  }
  ASSERT_TRUE(producer.flush(10s));
  ASSERT_EQ(ok.load(), count);
}

/// An embedded broker whose `topic` (one partition) holds `count`
/// envelopes produced as by produce().
struct ProducedTopic {
  ProducedTopic(const std::string& topic, int count, int keys) : broker(1, {{topic, 1}}) {
    RawProducer producer({{"bootstrap.servers", broker.bootstrapServers()}}, logger);
    produce(producer, topic, count, keys);
  }
  EmbeddedBroker broker;
  testing::CaptureLogger logger;
};

/// Polls until `count` records arrived or `limit` passed.
std::vector<Record> pollFor(KafkaSource& source, std::size_t count,
                            std::chrono::milliseconds limit = 20s) {
  std::vector<Record> records;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (records.size() < count && std::chrono::steady_clock::now() < deadline) {
    source.poll(records, 1000, 100ms);
  }
  return records;
}

TEST(KafkaRoundTripTest, KeysHeadersAndOrderSurvive) {
  EmbeddedBroker broker(3, {{"rt", 3}});
  testing::CaptureLogger logger;
  RawProducer producer({{"bootstrap.servers", broker.bootstrapServers()}}, logger);
  constexpr int kCount = 300;
  produce(producer, "rt", kCount, 7);

  RecordingListener listener;
  KafkaSource source(consumerProps(broker, "rt-group"), "rt", listener, logger);
  auto records = pollFor(source, kCount);
  ASSERT_EQ(records.size(), static_cast<std::size_t>(kCount));
  EXPECT_EQ(listener.assigned.load(), 3);

  std::map<std::string, int> lastSeqOfKey;
  for (auto& r : records) {
    EXPECT_EQ(r.topic, "rt");
    EXPECT_GE(r.partition, 0);
    EXPECT_GE(r.value.capacity() - r.value.size(), kValuePadding);
    ASSERT_EQ(r.headers.size(), 2u);
    EXPECT_EQ(r.headers[0].first, "seq");
    EXPECT_EQ(r.headers[1], (Header{"empty", ""}));
    const int seq = std::stoi(r.headers[0].second);
    EXPECT_EQ(r.key, "k" + std::to_string(seq % 7));
    // Per-key order is kept.
    auto [it, inserted] = lastSeqOfKey.try_emplace(r.key, seq);
    if (!inserted) {
      EXPECT_GT(seq, it->second) << r.key;
      it->second = seq;
    }
    Event event;
    std::string detail;
    ASSERT_EQ(parseEnvelope(r, event, detail), EnvelopeError::None) << detail;
    EXPECT_EQ(event.payload, "{\"seq\":" + std::to_string(seq) + "}");
    EXPECT_EQ(event.key, "k" + std::to_string(seq % 7));
  }
  EXPECT_EQ(lastSeqOfKey.size(), 7u);
  source.close();
  source.close();  // idempotent
  EXPECT_EQ(listener.revoked.load(), 3);
  std::vector<Record> none;
  EXPECT_EQ(source.poll(none, 10, 10ms), 0u);
}

TEST(KafkaRoundTripTest, APollReturnsWhatIsThereWithoutWaitingForAFullBatch) {
  ProducedTopic few("few", 5, 5);
  RecordingListener listener;
  KafkaSource source(consumerProps(few.broker, "few-group"), "few", listener, few.logger);
  // Room for 1000, 5 there: the poll returns them once they arrive (after
  // the group join, a few seconds), not when its 20 s are over.
  std::vector<Record> records;
  const auto start = std::chrono::steady_clock::now();
  source.poll(records, 1000, 20s);
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(records.empty());
  EXPECT_LT(waited, 15s);
  const auto rest = pollFor(source, 5 - records.size(), 10s);
  EXPECT_EQ(records.size() + rest.size(), 5u);
}

TEST(KafkaRoundTripTest, CommittedOffsetIsWhereTheGroupResumes) {
  ProducedTopic commits("commits", 10, 1);
  EmbeddedBroker& broker = commits.broker;
  testing::CaptureLogger& logger = commits.logger;
  {
    RecordingListener listener;
    KafkaSource source(consumerProps(broker, "resume-group"), "commits", listener, logger);
    auto records = pollFor(source, 10);
    ASSERT_EQ(records.size(), 10u);
    // Handled up to offset 5: the next to read is 6.
    source.store({{"commits", 0, records[5].offset + 1}});
    EXPECT_TRUE(source.commit(false));
    // The commit report is served by the next poll.
    std::vector<Record> more;
    for (int i = 0; i < 20; ++i) {
      source.poll(more, 10, 50ms);
      std::lock_guard lock(listener.mutex);
      if (!listener.commits.empty()) break;
    }
    std::lock_guard lock(listener.mutex);
    ASSERT_FALSE(listener.commits.empty());
    EXPECT_EQ(listener.errors[0], "");
    ASSERT_EQ(listener.commits[0].size(), 1u);
    EXPECT_EQ(listener.commits[0][0].offset, 6);
  }  // the destructor closes: leaves the group

  RecordingListener listener;
  KafkaSource source(consumerProps(broker, "resume-group"), "commits", listener, logger);
  auto records = pollFor(source, 4);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records.front().offset, 6);
  EXPECT_EQ(records.back().offset, 9);
}

TEST(KafkaRoundTripTest, PauseStopsFetchingAndAsyncCommitReports) {
  EmbeddedBroker broker(1, {{"pause", 1}});
  testing::CaptureLogger logger;
  RawProducer producer({{"bootstrap.servers", broker.bootstrapServers()}}, logger);
  produce(producer, "pause", 5, 1);

  RecordingListener listener;
  KafkaSource source(consumerProps(broker, "pause-group"), "pause", listener, logger);
  ASSERT_EQ(pollFor(source, 5).size(), 5u);
  source.pause({{"pause", 0, -1}});
  produce(producer, "pause", 5, 1);
  std::vector<Record> records;
  for (int i = 0; i < 5; ++i) source.poll(records, 100, 100ms);
  EXPECT_TRUE(records.empty());
  source.resume({{"pause", 0, -1}});
  records = pollFor(source, 5);
  ASSERT_EQ(records.size(), 5u);
  EXPECT_EQ(records.front().offset, 5);

  source.store({{"pause", 0, 10}});
  EXPECT_TRUE(source.commit(true));
  for (int i = 0; i < 40; ++i) {
    source.poll(records, 10, 50ms);
    std::lock_guard lock(listener.mutex);
    if (!listener.commits.empty()) break;
  }
  std::lock_guard lock(listener.mutex);
  ASSERT_FALSE(listener.commits.empty());
  EXPECT_EQ(listener.commits[0][0].offset, 10);
}

TEST(KafkaRoundTripTest, BrokerDownIsLoggedNotThrown) {
  testing::CaptureLogger logger;
  RecordingListener listener;
  // Nothing listens on port 1.
  KafkaSource source({{"bootstrap.servers", "127.0.0.1:1"},
                      {"group.id", "nobody"},
                      {"socket.connection.setup.timeout.ms", "1000"}},
                     "none", listener, logger);
  std::vector<Record> records;
  for (int i = 0; i < 10; ++i) EXPECT_EQ(source.poll(records, 10, 100ms), 0u);
  EXPECT_FALSE(logger.lines(LogLevel::Warn).empty());
}

TEST(KafkaSourceTest, ForcedPropertiesWarnAndBadPropertiesThrow) {
  testing::CaptureLogger logger;
  RecordingListener listener;
  EXPECT_THROW(KafkaSource({{"group.id", "g"}, {"bogus.property", "1"}}, "t", listener, logger),
               std::runtime_error);
  KafkaSource source(
      {{"bootstrap.servers", "127.0.0.1:1"}, {"group.id", "g"}, {"enable.auto.commit", "true"}},
      "t", listener, logger);
  bool warned = false;
  for (const auto& line : logger.lines(LogLevel::Warn)) {
    warned |= line.find("enable.auto.commit") != std::string::npos;
  }
  EXPECT_TRUE(warned);
}

TEST(KafkaSourceTest, AMessageSizeAboveTheFetchDefaultIsAccepted) {
  // The source's fetch.max.bytes default (1 MB) must not be below
  // message.max.bytes, or librdkafka refuses the configuration.
  testing::CaptureLogger logger;
  RecordingListener listener;
  EXPECT_NO_THROW(KafkaSource(
      {{"bootstrap.servers", "127.0.0.1:1"}, {"group.id", "g"}, {"message.max.bytes", "5000000"}},
      "t", listener, logger));
  EXPECT_THROW(KafkaSource({{"bootstrap.servers", "127.0.0.1:1"},
                            {"group.id", "g"},
                            {"message.max.bytes", "5000000"},
                            {"fetch.max.bytes", "1048576"}},
                           "t", listener, logger),
               std::runtime_error);
}

}  // namespace
}  // namespace commsvc::kafka
