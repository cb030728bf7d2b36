// The relay through the real `kafka` publisher (publisher-kafka's logic
// library) and librdkafka's mock cluster: what reaches Kafka is exactly the
// envelope add() stored, and nothing is lost while no broker answers.
#include <librdkafka/rdkafka.h>

#include "kafka/embedded_broker.hpp"
#include "kafka_publisher.hpp"
#include "outbox_fixture.hpp"

namespace commsvc::outbox {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using plugins::publisher_kafka::KafkaPublisher;
using plugins::publisher_kafka::KafkaPublisherOptions;

constexpr const char* kTopic = "communication-events";
constexpr int kPartitions = 3;

// A publisher that forwards to a KafkaPublisher and logs what it was given.
class LoggingKafkaPublisher final : public Publisher {
 public:
  LoggingKafkaPublisher(const std::string& brokers, Logger& logger, PublishLog& log)
      : kafka_(options(brokers), logger), log_(log) {}
  void publish(Event event, PublishCallback done) override {
    PublishLog& log = log_;
    Event copy = event;
    kafka_.publish(std::move(event), [&log, copy, done](const PublishResult& result) {
      log.add(copy, result.ok());
      if (done) done(result);
    });
  }
  bool flush(std::chrono::milliseconds timeout) override { return kafka_.flush(timeout); }

 private:
  static KafkaPublisherOptions options(const std::string& brokers) {
    KafkaPublisherOptions o;
    o.topic = kTopic;
    o.properties = {{"bootstrap.servers", brokers},
                    {"message.timeout.ms", "1500"},
                    {"socket.connection.setup.timeout.ms", "1000"}};
    o.flushTimeout = 2000ms;
    return o;
  }

  KafkaPublisher kafka_;
  PublishLog& log_;
};

// Record key and value of every record in `topic`, per partition in offset order.
std::map<int, std::vector<std::pair<std::string, std::string>>> readTopic(
    const std::string& brokers, std::size_t expected) {
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), error, sizeof error);
  rd_kafka_conf_set(conf, "group.id", "outbox-test-reader", error, sizeof error);
  std::unique_ptr<rd_kafka_t, void (*)(rd_kafka_t*)> consumer(
      rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof error), &rd_kafka_destroy);
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(kPartitions);
  for (int p = 0; p < kPartitions; ++p) {
    rd_kafka_topic_partition_list_add(parts, kTopic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(consumer.get(), parts);
  rd_kafka_topic_partition_list_destroy(parts);
  std::map<int, std::vector<std::pair<std::string, std::string>>> out;
  std::size_t seen = 0;
  const auto deadline = Clock::now() + 15s;
  while (seen < expected && Clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer.get(), 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      out[m->partition].emplace_back(std::string(static_cast<const char*>(m->key), m->key_len),
                                     std::string(static_cast<const char*>(m->payload), m->len));
      ++seen;
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(consumer.get());
  return out;
}

TEST_F(OutboxTest, ThroughKafkaNothingIsLostWhileDownAndEnvelopesAreUnchanged) {
  std::vector<Event> added;
  for (int i = 0; i < 40; ++i)
    added.push_back(makeEvent("email.sent", std::to_string(i % 4), payload(i)));
  PublishLog log;
  {
    // No broker listens here: every publish times out after message.timeout.ms.
    LoggingKafkaPublisher down("127.0.0.1:1", logger_, log);
    OutboxRelay relay(*pool_, {{"events", &down}}, logger_, metrics_, fast());
    PostgresOutbox outbox("events", &relay);
    relay.start();
    addCommitted(outbox, added);
    std::this_thread::sleep_for(2500ms);
    relay.stop(Clock::now() + 500ms);
  }
  EXPECT_EQ(unpublished("events"), 40);
  EXPECT_TRUE(log.okEvents().empty());
  EXPECT_FALSE(log.entries().empty()) << "the relay tried";

  kafka::EmbeddedBroker broker(1, {{kTopic, kPartitions}});
  LoggingKafkaPublisher up(broker.bootstrapServers(), logger_, log);
  OutboxRelay relay(*pool_, {{"events", &up}}, logger_, metrics_, fast());
  relay.start();
  ASSERT_TRUE(log.waitForOk(40, 10s));
  relay.stop(Clock::now() + 2s);
  EXPECT_EQ(unpublished("events"), 0);

  const auto topic = readTopic(broker.bootstrapServers(), 40);
  std::map<std::string, std::vector<std::string>> byKey;
  std::size_t total = 0;
  for (const auto& [partition, records] : topic) {
    for (const auto& [key, value] : records) {
      byKey[key].push_back(value);
      ++total;
    }
  }
  EXPECT_EQ(total, 40u) << "each event exactly once";
  std::map<std::string, std::vector<std::string>> wanted;
  for (const auto& e : added) wanted[e.key].push_back(toEnvelopeJson(e));
  EXPECT_EQ(byKey, wanted) << "same envelopes (eventId, timestamp), per-key order kept";
}

}  // namespace
}  // namespace commsvc::outbox
