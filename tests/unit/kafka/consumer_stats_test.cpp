// consumer_lag{partition}: librdkafka's statistics parsed (parseConsumerLag)
// and, through a KafkaSource with metrics, against a real mock cluster;
// offset_commit_failures_total with an injected commit error.

#include "kafka/consumer_stats.hpp"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <atomic>
#include <map>
#include <thread>

#include "capture_logger.hpp"
#include "commsvc/testing/fake_context.hpp"
#include "kafka/consumer.hpp"
#include "kafka/embedded_broker.hpp"
#include "kafka/producer.hpp"

namespace commsvc::kafka {
namespace {

using namespace std::chrono_literals;

// The shape of librdkafka's statistics (STATISTICS.md), trimmed: topic
// "events" with an assigned partition 0 (lag 6), an assigned partition 1
// without a committed offset (lag -1), a revoked partition 2 (not desired,
// stale lag 9) and the internal partition -1; another topic the consumer does
// not read.
constexpr const char* kStats = R"({
  "name": "rdkafka#consumer-1", "type": "consumer", "ts": 1, "time": 2,
  "brokers": {"127.0.0.1:9092/1": {"name": "127.0.0.1:9092/1", "nodeid": 1,
              "toppars": {"events-0": {"topic": "events", "partition": 0}}}},
  "topics": {
    "events": {
      "topic": "events", "age": 10, "metadata_age": 10,
      "partitions": {
        "1": {"partition": 1, "desired": true, "fetch_state": "active",
              "committed_offset": -1001, "hi_offset": 12, "consumer_lag": -1},
        "0": {"partition": 0, "desired": true, "fetch_state": "active",
              "committed_offset": 2, "hi_offset": 8, "consumer_lag": 6,
              "consumer_lag_stored": 0},
        "2": {"partition": 2, "desired": false, "fetch_state": "stopped",
              "committed_offset": 3, "hi_offset": 12, "consumer_lag": 9},
        "-1": {"partition": -1, "desired": false, "fetch_state": "none",
               "committed_offset": -1001, "hi_offset": -1001, "consumer_lag": -1}
      }
    },
    "other": {"topic": "other", "partitions": {
        "0": {"partition": 0, "desired": true, "consumer_lag": 100}}}
  },
  "cgrp": {"state": "up", "join_state": "steady", "assignment_size": 2}
})";

TEST(ConsumerLagTest, AssignedPartitionsWithAKnownLag) {
  EXPECT_EQ(parseConsumerLag(kStats, "events"), (std::vector<PartitionLag>{{0, 6}}));
  EXPECT_EQ(parseConsumerLag(kStats, "other"), (std::vector<PartitionLag>{{0, 100}}));
}

TEST(ConsumerLagTest, OrderedByPartitionAndZeroLagKept) {
  const std::string stats = R"({"topics": {"t": {"partitions": {
      "10": {"partition": 10, "desired": true, "consumer_lag": 3},
      "2": {"partition": 2, "desired": true, "consumer_lag": 0},
      "7": {"partition": 7, "consumer_lag": 1}}}}})";
  EXPECT_EQ(parseConsumerLag(stats, "t"), (std::vector<PartitionLag>{{2, 0}, {7, 1}, {10, 3}}));
}

TEST(ConsumerLagTest, NothingForAnotherTopicOrWithoutTopics) {
  EXPECT_TRUE(parseConsumerLag(kStats, "missing").empty());
  EXPECT_TRUE(parseConsumerLag(R"({"type": "consumer"})", "events").empty());
  EXPECT_TRUE(parseConsumerLag(R"({"topics": {}})", "events").empty());
  EXPECT_TRUE(parseConsumerLag(R"({"topics": {"events": {}}})", "events").empty());
  EXPECT_TRUE(parseConsumerLag(R"({"topics": {"events": {"partitions": []}}})", "events").empty());
}

TEST(ConsumerLagTest, EntriesOfTheWrongShapeAreSkipped) {
  const std::string stats = R"({"topics": {"t": {"partitions": {
      "0": {"partition": 0, "desired": true, "consumer_lag": "5"},
      "1": {"partition": "1", "desired": true, "consumer_lag": 5},
      "2": {"partition": 2, "desired": "yes", "consumer_lag": 5},
      "3": {"partition": 3, "desired": true, "consumer_lag": 1.5},
      "4": {"partition": 4, "desired": true},
      "5": [],
      "6": {"partition": 6, "desired": true, "consumer_lag": 4},
      "7": {"partition": 4294967296, "desired": true, "consumer_lag": 4}}}}})";
  EXPECT_EQ(parseConsumerLag(stats, "t"), (std::vector<PartitionLag>{{6, 4}}));
}

TEST(ConsumerLagTest, NotJsonOrTopicsNotAnObjectThrows) {
  EXPECT_THROW(parseConsumerLag("", "t"), std::invalid_argument);
  EXPECT_THROW(parseConsumerLag(R"({"topics": )", "t"), std::invalid_argument);
  EXPECT_THROW(parseConsumerLag("[1, 2]", "t"), std::invalid_argument);
  EXPECT_THROW(parseConsumerLag(R"({"topics": []})", "t"), std::invalid_argument);
}

class CountingListener : public RebalanceListener {
 public:
  void onAssigned(const std::vector<PartitionOffset>& partitions) override {
    assigned += static_cast<int>(partitions.size());
  }
  void onRevoked(const std::vector<PartitionOffset>& partitions) override {
    revoked += static_cast<int>(partitions.size());
  }
  void onCommitted(const std::vector<PartitionOffset>&, const std::string&) override {}
  std::atomic<int> assigned{0};
  std::atomic<int> revoked{0};
};

Properties lagProps(const std::string& bootstrap) {
  return {{"bootstrap.servers", bootstrap},
          {"group.id", "lag-group"},
          {"session.timeout.ms", "3000"},
          {"heartbeat.interval.ms", "500"},
          {"statistics.interval.ms", "100"}};
}

double lagOf(const commsvc::testing::InMemoryMetrics& metrics, int partition) {
  return metrics.gaugeValue("consumer_lag", {{"partition", std::to_string(partition)}});
}

/// Polls `source` until `done` or 20 s passed; returns `done()`.
template <typename Done>
bool pollUntil(KafkaSource& source, std::vector<Record>& records, Done done) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    source.poll(records, 100, 50ms);
  }
  return done();
}

TEST(KafkaSourceLagTest, StatisticsSetConsumerLagPerAssignedPartition) {
  EmbeddedBroker broker(1, {{"lag", 2}});
  testing::CaptureLogger logger;
  RawProducer producer({{"bootstrap.servers", broker.bootstrapServers()}}, logger);
  std::atomic<int> delivered{0};
  for (int i = 0; i < 20; ++i) {
    producer.send("lag", "k" + std::to_string(i), R"({"eventType":"t","payload":{}})", {},
                  [&delivered](bool ok, const std::string&) { delivered += ok ? 1 : 0; });
  }
  ASSERT_TRUE(producer.flush(10s));
  ASSERT_EQ(delivered.load(), 20);

  commsvc::testing::InMemoryMetrics metrics;
  CountingListener listener;
  KafkaSource source(lagProps(broker.bootstrapServers()), "lag", listener, logger, &metrics);
  std::vector<Record> records;
  ASSERT_TRUE(pollUntil(source, records, [&] { return records.size() == 20; }));
  std::map<int, std::int64_t> end;  // partition -> last offset + 1
  for (const auto& r : records) end[r.partition] = std::max(end[r.partition], r.offset + 1);
  ASSERT_EQ(end.size(), 2u) << "20 keys spread over both partitions";
  ASSERT_GE(end[0], 2);
  ASSERT_GE(end[1], 2);

  // Handled up to offset 0 of each partition: the lag is the rest.
  source.store({{"lag", 0, 1}, {"lag", 1, 1}});
  ASSERT_TRUE(source.commit(false));
  EXPECT_TRUE(pollUntil(source, records,
                        [&] {
                          return lagOf(metrics, 0) == static_cast<double>(end[0] - 1) &&
                                 lagOf(metrics, 1) == static_cast<double>(end[1] - 1);
                        }))
      << lagOf(metrics, 0) << " " << lagOf(metrics, 1);

  // A second member takes one partition: its lag here drops to 0 (librdkafka
  // keeps reporting the revoked partition with its stale lag), the other's
  // stays, and the new member reports the partition it took.
  commsvc::testing::InMemoryMetrics otherMetrics;
  CountingListener otherListener;
  KafkaSource other(lagProps(broker.bootstrapServers()), "lag", otherListener, logger,
                    &otherMetrics);
  std::atomic<bool> stop{false};
  std::thread otherPoller([&] {
    std::vector<Record> none;
    while (!stop.load()) other.poll(none, 100, 50ms);
  });
  const bool moved = pollUntil(source, records, [&] {
    if (otherListener.assigned.load() != 1) return false;
    const bool firstMoved = lagOf(metrics, 0) == 0 && lagOf(otherMetrics, 0) == end[0] - 1 &&
                            lagOf(metrics, 1) == end[1] - 1;
    const bool secondMoved = lagOf(metrics, 1) == 0 && lagOf(otherMetrics, 1) == end[1] - 1 &&
                             lagOf(metrics, 0) == end[0] - 1;
    return firstMoved || secondMoved;
  });
  stop.store(true);
  otherPoller.join();
  EXPECT_TRUE(moved) << "here: " << lagOf(metrics, 0) << " " << lagOf(metrics, 1)
                     << ", other: " << lagOf(otherMetrics, 0) << " " << lagOf(otherMetrics, 1);
  EXPECT_GT(listener.revoked.load(), 0);
}

TEST(KafkaSourceLagTest, WithoutMetricsStatisticsPropertiesAreHarmless) {
  EmbeddedBroker broker(1, {{"lag", 1}});
  testing::CaptureLogger logger;
  CountingListener listener;
  // No metrics: the source sets no statistics callback, whatever the properties say.
  KafkaSource source(lagProps(broker.bootstrapServers()), "lag", listener, logger);
  std::vector<Record> records;
  EXPECT_TRUE(pollUntil(source, records, [&] { return listener.assigned.load() == 1; }));
}

/// The Kafka protocol's ApiKey of OffsetCommit (librdkafka's RD_KAFKAP_OffsetCommit is
/// not in its public headers).
constexpr std::int16_t kOffsetCommitApiKey = 8;

/// A mock cluster this test controls (errors injected per request type).
class MockCluster {
 public:
  MockCluster() {
    char errstr[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
    handle_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr));
    cluster_ = rd_kafka_mock_cluster_new(handle_.get(), 1);
    rd_kafka_mock_topic_create(cluster_, "commits", 1, 1);
  }
  ~MockCluster() { rd_kafka_mock_cluster_destroy(cluster_); }
  std::string bootstrap() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }
  rd_kafka_mock_cluster_t* get() { return cluster_; }

 private:
  KafkaHandle handle_;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
};

TEST(KafkaSourceLagTest, FailedCommitsAreCounted) {
  MockCluster cluster;
  testing::CaptureLogger logger;
  RawProducer producer({{"bootstrap.servers", cluster.bootstrap()}}, logger);
  std::atomic<int> delivered{0};
  producer.send("commits", "k", R"({"eventType":"t","payload":{}})", {},
                [&delivered](bool ok, const std::string&) { delivered += ok ? 1 : 0; });
  ASSERT_TRUE(producer.flush(10s));
  ASSERT_EQ(delivered.load(), 1);

  commsvc::testing::InMemoryMetrics metrics;
  CountingListener listener;
  Properties props = lagProps(cluster.bootstrap());
  props.emplace_back("group.id", "commit-failures");
  KafkaSource source(props, "commits", listener, logger, &metrics);
  std::vector<Record> records;
  ASSERT_TRUE(pollUntil(source, records, [&] { return records.size() == 1; }));
  EXPECT_EQ(metrics.counterValue("offset_commit_failures_total"), 0);

  rd_kafka_mock_push_request_errors(cluster.get(), kOffsetCommitApiKey, 1,
                                    RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED);
  source.store({{"commits", 0, 1}});
  EXPECT_FALSE(source.commit(false));
  EXPECT_EQ(metrics.counterValue("offset_commit_failures_total"), 1);

  source.store({{"commits", 0, 1}});
  EXPECT_TRUE(source.commit(false));
  EXPECT_EQ(metrics.counterValue("offset_commit_failures_total"), 1);
}

}  // namespace
}  // namespace commsvc::kafka
