#include "kafka_publisher.hpp"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "commsvc/plugin.hpp"
#include "kafka/embedded_broker.hpp"

namespace commsvc::plugins::publisher_kafka {
namespace {

using namespace std::chrono_literals;

/// Keeps log lines in memory.
class TestLogger : public Logger {
 public:
  using Logger::log;
  void log(LogLevel level, std::string_view message, const LogFields&) override {
    std::lock_guard lock(mutex_);
    if (level >= LogLevel::Warn) warnings_.emplace_back(message);
  }
  bool enabled(LogLevel level) const override { return level >= LogLevel::Info; }

 private:
  std::mutex mutex_;
  std::vector<std::string> warnings_;
};

/// The settings of a block; the defaults are those of an empty block.
KafkaPublisherSettings block(std::string topic = "",
                             std::map<std::string, std::string> properties = {},
                             std::chrono::milliseconds flushTimeout = 10000ms) {
  return {
      .topic = std::move(topic), .properties = std::move(properties), .flushTimeout = flushTimeout};
}

KafkaSettings settings(const std::string& brokers) {
  KafkaSettings kafka;
  kafka.brokers = brokers;
  kafka.topic = "communication-events";
  kafka.group = "communication-service";
  kafka.properties = {{"client.id", "from-pipeline"}};
  return kafka;
}

/// A consumed record.
struct Consumed {
  std::string key;
  std::string value;
};

/// Reads `count` records of every partition of `topic` from the beginning,
/// with a plain assign (no group, so no join delay).
std::vector<Consumed> consumeAll(const std::string& brokers, const std::string& topic,
                                 int partitions, std::size_t count) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), errstr, sizeof errstr);
  rd_kafka_conf_set(conf, "group.id", "reader", errstr, sizeof errstr);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  std::vector<Consumed> out;
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (out.size() < count && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      out.push_back({std::string(static_cast<const char*>(m->key), m->key_len),
                     std::string(static_cast<const char*>(m->payload), m->len)});
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return out;
}

TEST(KafkaPublisherOptionsTest, OptionsAreDeclaredSoundlyWithTheirDefaults) {
  EXPECT_TRUE(optionDeclarationProblems(kOptions.span()).empty());
  const KafkaPublisherSettings defaults;
  EXPECT_EQ(defaults.topic, "");
  EXPECT_TRUE(defaults.properties.empty());
  EXPECT_EQ(defaults.flushTimeout, 10000ms);
  EXPECT_EQ(kOptions.specs[2].minimum, 0);
  EXPECT_EQ(kOptions.specs[2].maximum, 3600000);
}

TEST(KafkaPublisherOptionsTest, TopicFallsBackToThePipelines) {
  auto options = resolveOptions(block(), settings("127.0.0.1:9092"));
  EXPECT_EQ(options.topic, "communication-events");
  EXPECT_EQ(options.flushTimeout, 10000ms);
  EXPECT_EQ(resolveOptions(block("other"), settings("b:1")).topic, "other");
}

TEST(KafkaPublisherOptionsTest, PropertiesAreLayered) {
  auto options = resolveOptions(block("", {{"client.id", "mine"}}), settings("b:1"));
  ASSERT_EQ(options.properties.size(), 3u);
  EXPECT_EQ(options.properties[0],
            (std::pair<std::string, std::string>{"bootstrap.servers", "b:1"}));
  EXPECT_EQ(options.properties[1].second, "from-pipeline");
  EXPECT_EQ(options.properties[2].second, "mine");  // the block's own win
}

TEST(KafkaPublisherOptionsTest, MissingTopicOrBrokersIsAConfigError) {
  auto noTopic = settings("b:1");
  noTopic.topic.clear();
  EXPECT_THROW(resolveOptions(block(), noTopic), ConfigError);
  EXPECT_THROW(resolveOptions(block(), settings("")), ConfigError);
  // Brokers given as a property are fine.
  EXPECT_NO_THROW(resolveOptions(block("", {{"bootstrap.servers", "b:1"}}), settings("")));
}

TEST(KafkaPublisherTest, RefusedPropertyNamesIt) {
  TestLogger logger;
  auto options = resolveOptions(block("", {{"no.such.thing", "1"}}), settings("127.0.0.1:1"));
  try {
    KafkaPublisher publisher(options, logger);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("no.such.thing"), std::string::npos);
  }
}

TEST(KafkaPublisherTest, PublishesEnvelopesWithKeys) {
  kafka::EmbeddedBroker broker(1, {{"communication-events", 3}});
  TestLogger logger;
  constexpr int kCount = 50;
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::vector<Event> sent;
  {
    KafkaPublisher publisher(resolveOptions(block(), settings(broker.bootstrapServers())), logger);
    EXPECT_EQ(publisher.topic(), "communication-events");
    for (int i = 0; i < kCount; ++i) {
      Event event = makeEvent("email.sent", std::to_string(i % 5),
                              "{\"email_id\":" + std::to_string(i) +
                                  ",\"betreff\":\"Gr\xc3\xbc\xc3\x9f"
                                  "e\"}");
      sent.push_back(event);
      publisher.publish(std::move(event), [&](const PublishResult& result) {
        (result.ok() ? ok : failed)++;
        EXPECT_EQ(result.error, "");
      });
    }
    publisher.publish(makeEvent("email.sent", "99", "{}"), nullptr);  // no callback is fine
    EXPECT_TRUE(publisher.flush(10s));
    EXPECT_EQ(ok.load(), kCount);
    EXPECT_EQ(failed.load(), 0);
  }

  auto records = consumeAll(broker.bootstrapServers(), "communication-events", 3, kCount + 1);
  ASSERT_EQ(records.size(), static_cast<std::size_t>(kCount + 1));
  std::map<std::string, std::string> byEnvelope;
  for (const auto& r : records) byEnvelope[r.value] = r.key;
  for (const auto& event : sent) {
    const std::string envelope = toEnvelopeJson(event);
    ASSERT_EQ(byEnvelope.count(envelope), 1u) << envelope;
    EXPECT_EQ(byEnvelope[envelope], event.key);
    EXPECT_NE(envelope.find("\"eventType\":\"email.sent\""), std::string::npos);
    EXPECT_NE(envelope.find("\"producer\":\"communication-service\""), std::string::npos);
  }
}

TEST(KafkaPublisherTest, UndeliverableEventsFailAtShutdown) {
  TestLogger logger;
  std::atomic<int> failed{0};
  {
    auto options = resolveOptions(block("t", {{"message.timeout.ms", "60000"}}, 200ms),
                                  settings("127.0.0.1:1"));
    KafkaPublisher publisher(options, logger);
    publisher.publish(makeEvent("x.y", "1", "{}"), [&](const PublishResult& result) {
      if (result.status == PublishResult::Status::Failed && !result.error.empty()) failed++;
    });
    EXPECT_FALSE(publisher.flush(100ms));
  }  // the destructor waits 200 ms, then fails what is left
  EXPECT_EQ(failed.load(), 1);
}

TEST(KafkaPublisherPluginTest, DescriptorIsAKafkaPublisher) {
  void* library = dlopen(COMMSVC_KAFKA_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(library, nullptr) << dlerror();
  const auto* info = static_cast<const PluginInfo*>(dlsym(library, kPluginSymbol));
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->abiVersion, kAbiVersion);
  EXPECT_EQ(info->kind, PluginKind::Publisher);
  EXPECT_STREQ(info->name, "kafka");
  ASSERT_EQ(info->optionCount, 3u);
  EXPECT_STREQ(info->options[0].name, "topic");
  EXPECT_STREQ(info->options[1].name, "properties");
  EXPECT_STREQ(info->options[2].name, "flush_timeout_ms");
  EXPECT_EQ(describeDefault(info->options[2]), "10000");
  EXPECT_TRUE(info->options[1].isSecret);
  EXPECT_NE(info->createPublisher, nullptr);
  dlclose(library);
}

}  // namespace
}  // namespace commsvc::plugins::publisher_kafka
