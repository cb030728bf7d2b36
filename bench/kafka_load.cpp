// Load generator and counter for scripts/bench.sh's `kafka` section: puts
// one `communication.send_email` event per email id on the topic (key = the
// id, envelope per SPEC §1), as fast as the producer goes, and counts the
// events of one type (email.sent) the service publishes back for those ids.
// Prints key=value figures; asserts nothing.
//
//   bench_kafka_load BOOTSTRAP TOPIC IDS_FILE [expect_type=email.sent] [timeout_s=300]
//
// IDS_FILE holds one email id per line. The counter reads every partition of
// TOPIC from its end as it was before the first event was produced (no
// consumer group, so no join wait), while producing, so the mock broker's
// ~5 MiB retention per partition does not matter. Output (one line):
//   first_send_ns=<epoch ns> produced_ns=<epoch ns> done_ns=<epoch ns>
//   seen=<distinct ids> duplicates=<n> expected=<n>
// done_ns is when the last expected event was read (0 when not all came
// before the timeout). Exit 0 when all came, 1 otherwise, 2 on bad usage.
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "commsvc/event.hpp"
#include "kafka/envelope.hpp"
#include "kafka/producer.hpp"
#include "logging/log.hpp"

namespace {

using namespace commsvc;

std::int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The value of the first "email_id" member of a payload, or -1.
std::int64_t emailIdOf(const std::string& payload) {
  const auto at = payload.find("\"email_id\"");
  if (at == std::string::npos) return -1;
  std::size_t i = at + 10;
  while (i < payload.size() && (payload[i] == ' ' || payload[i] == ':')) ++i;
  std::int64_t id = 0;
  bool any = false;
  for (; i < payload.size() && payload[i] >= '0' && payload[i] <= '9'; ++i) {
    id = id * 10 + (payload[i] - '0');
    any = true;
  }
  return any ? id : -1;
}

struct RdKafkaDeleter {
  void operator()(rd_kafka_t* rk) const {
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
  }
};
using Consumer = std::unique_ptr<rd_kafka_t, RdKafkaDeleter>;

// A consumer assigned to every partition of `topic` at its current end.
Consumer assignAtEnd(const std::string& bootstrap, const std::string& topic) {
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  const std::pair<const char*, const char*> props[] = {
      {"bootstrap.servers", bootstrap.c_str()},
      {"group.id", "bench-kafka-load"},  // required by librdkafka; never joined (assign)
      {"enable.auto.commit", "false"},
      {"enable.partition.eof", "false"},
      {"fetch.wait.max.ms", "10"},
      {"socket.timeout.ms", "10000"}};
  for (const auto& [name, value] : props) {
    if (rd_kafka_conf_set(conf, name, value, error, sizeof error) != RD_KAFKA_CONF_OK) {
      throw std::runtime_error(error);
    }
  }
  Consumer rk(rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof error));
  if (!rk) throw std::runtime_error(error);
  rd_kafka_poll_set_consumer(rk.get());

  rd_kafka_topic_t* handle = rd_kafka_topic_new(rk.get(), topic.c_str(), nullptr);
  const rd_kafka_metadata_t* metadata = nullptr;
  const rd_kafka_resp_err_t err = rd_kafka_metadata(rk.get(), 0, handle, &metadata, 10000);
  rd_kafka_topic_destroy(handle);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR || metadata->topic_cnt != 1 ||
      metadata->topics[0].partition_cnt < 1) {
    if (metadata) rd_kafka_metadata_destroy(metadata);
    throw std::runtime_error("no metadata for topic " + topic);
  }
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  for (int p = 0; p < metadata->topics[0].partition_cnt; ++p) {
    const std::int32_t partition = metadata->topics[0].partitions[p].id;
    std::int64_t low = 0, high = 0;
    if (rd_kafka_query_watermark_offsets(rk.get(), topic.c_str(), partition, &low, &high, 10000) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_metadata_destroy(metadata);
      rd_kafka_topic_partition_list_destroy(list);
      throw std::runtime_error("no watermarks for " + topic);
    }
    rd_kafka_topic_partition_list_add(list, topic.c_str(), partition)->offset = high;
  }
  rd_kafka_metadata_destroy(metadata);
  const rd_kafka_resp_err_t assigned = rd_kafka_assign(rk.get(), list);
  rd_kafka_topic_partition_list_destroy(list);
  if (assigned != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error(std::string("assign: ") + rd_kafka_err2str(assigned));
  }
  return rk;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr,
                 "usage: %s BOOTSTRAP TOPIC IDS_FILE [expect_type=email.sent] [timeout_s=300]\n",
                 argv[0]);
    return 2;
  }
  const std::string bootstrap = argv[1];
  const std::string topic = argv[2];
  const std::string expectType = argc > 4 ? argv[4] : "email.sent";
  const int timeoutS = argc > 5 ? std::atoi(argv[5]) : 300;

  std::vector<std::int64_t> ids;
  {
    std::ifstream in(argv[3]);
    std::int64_t id = 0;
    while (in >> id) ids.push_back(id);
  }
  if (ids.empty()) {
    std::fprintf(stderr, "%s holds no ids\n", argv[3]);
    return 2;
  }
  std::unordered_map<std::int64_t, int> seen;  // id -> expected events read
  for (const auto id : ids) seen.emplace(id, 0);

  logging::configure(logging::LogFormat::Text, LogLevel::Warn);
  auto logger = logging::makeLogger("bench");
  Consumer consumer;
  try {
    consumer = assignAtEnd(bootstrap, topic);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "consumer: %s\n", e.what());
    return 1;
  }

  // Count while producing: the consumer thread reads from the old end.
  std::atomic<std::int64_t> doneNs{0};
  std::atomic<bool> stop{false};
  std::size_t distinct = 0;
  long duplicates = 0;
  std::thread counter([&] {
    while (!stop.load() && distinct < ids.size()) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer.get(), 100);
      if (m == nullptr) continue;
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->payload != nullptr) {
        kafka::Record record;
        record.value.assign(static_cast<const char*>(m->payload), m->len);
        Event event;
        std::string detail;
        if (kafka::parseEnvelope(record, event, detail) == kafka::EnvelopeError::None &&
            event.type == expectType) {
          const auto it = seen.find(emailIdOf(event.payload));
          if (it != seen.end() && it->second++ == 0) {
            if (++distinct == ids.size()) doneNs = nowNs();
          } else if (it != seen.end()) {
            ++duplicates;
          }
        }
      }
      rd_kafka_message_destroy(m);
    }
  });

  std::int64_t firstSendNs = 0;
  std::int64_t producedNs = 0;
  std::atomic<long> failed{0};
  {
    kafka::RawProducer producer(
        {{"bootstrap.servers", bootstrap}, {"linger.ms", "5"}, {"batch.num.messages", "10000"}},
        *logger);
    firstSendNs = nowNs();
    for (const auto id : ids) {
      const std::string key = std::to_string(id);
      const Event event = makeEvent("communication.send_email", key, "{\"email_id\": " + key + "}",
                                    "bench-kafka-load");
      producer.send(topic, key, toEnvelopeJson(event), {}, [&failed](bool ok, const std::string&) {
        if (!ok) ++failed;
      });
    }
    if (!producer.flush(std::chrono::seconds(60))) std::fprintf(stderr, "flush timed out\n");
    producedNs = nowNs();
  }

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeoutS);
  while (doneNs.load() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop = true;
  counter.join();
  std::printf(
      "first_send_ns=%lld produced_ns=%lld done_ns=%lld seen=%zu duplicates=%ld expected=%zu "
      "send_failures=%ld\n",
      static_cast<long long>(firstSendNs), static_cast<long long>(producedNs),
      static_cast<long long>(doneNs.load()), distinct, duplicates, ids.size(), failed.load());
  return distinct == ids.size() ? 0 : 1;
}
