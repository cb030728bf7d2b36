// The consumer loop against the embedded broker (a real Kafka-protocol
// broker over TCP): flow control at the edges of max_in_flight.

#include "runtime/consumer_loop.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "kafka/embedded_broker.hpp"
#include "kafka/producer.hpp"
#include "logging/log.hpp"
#include "logging/metrics_registry.hpp"
#include "runtime/dispatcher.hpp"
#include "runtime/router.hpp"

namespace commsvc::runtime {
namespace {

using Clock = std::chrono::steady_clock;

class CountingHandler final : public Handler {
 public:
  HandleResult handle(const Event&) override {
    count.fetch_add(1);
    return HandleResult::done();
  }
  std::atomic<long> count{0};
};

class NoDeadLetters final : public DeadLetterSink {
 public:
  bool send(const DeadLetter&) override { return true; }
};

// Consumes `records` bursted records with the given max_in_flight; returns
// how many were handled before all arrived or 30 s passed. `metricsOut`
// receives the metrics as text at the end.
long consumeBurst(std::size_t maxInFlight, long records, std::string* metricsOut = nullptr) {
  auto logger = logging::makeLogger("consumer-loop-test");
  kafka::EmbeddedBroker broker(1, {{"events", 2}, {"events.dlq", 1}});
  {
    kafka::RawProducer producer({{"bootstrap.servers", broker.bootstrapServers()}}, *logger);
    for (long i = 0; i < records; ++i) {
      const Event e = makeEvent("test.event", std::to_string(i % 7), "{}");
      producer.send("events", e.key, toEnvelopeJson(e), {}, nullptr);
    }
    producer.flush(std::chrono::seconds(10));
  }
  CountingHandler handler;
  Router router;
  router.add("test.event", handler);
  NoDeadLetters sink;
  logging::MetricsRegistry metrics;
  DispatcherSettings dispatch;
  dispatch.workers = 2;
  Dispatcher dispatcher(router, sink, dispatch, *logger, metrics);
  ConsumerLoopSettings loop;
  loop.maxInFlight = maxInFlight;
  loop.commitInterval = std::chrono::milliseconds(20);
  loop.pollBatch = 100;
  ConsumerLoop consumer({{"bootstrap.servers", broker.bootstrapServers()},
                         {"group.id", "consumer-loop-test"},
                         {"session.timeout.ms", "6000"},
                         {"auto.offset.reset", "earliest"},
                         {"statistics.interval.ms", "100"}},
                        "events", dispatcher, loop, *logger, metrics);
  std::atomic<bool> stop{false};
  std::thread watcher([&] {
    const auto until = Clock::now() + std::chrono::seconds(30);
    while (handler.count.load() < records && Clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (metricsOut != nullptr) {  // a statistics round or two after the commits
      while (metrics.renderText().find("consumer_lag{") == std::string::npos &&
             Clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
    stop = true;
  });
  consumer.run(stop);
  watcher.join();
  if (metricsOut != nullptr) *metricsOut = metrics.renderText();
  return handler.count.load();
}

// max_in_flight 1 is allowed; it paused the partitions and never resumed
// (resume waited for fewer than 1/2 = 0 held records): 2 of 50 handled.
TEST(ConsumerLoopTest, MaxInFlightOfOneStillConsumesEverything) {
  EXPECT_EQ(consumeBurst(1, 50), 50);
}

TEST(ConsumerLoopTest, MaxInFlightOfTwoStillConsumesEverything) {
  EXPECT_EQ(consumeBurst(2, 50), 50);
}

// The loop hands its metrics to the Kafka client: librdkafka's statistics
// become consumer_lag{partition} for the partitions it consumes.
TEST(ConsumerLoopTest, ReportsConsumerLagPerPartition) {
  std::string text;
  EXPECT_EQ(consumeBurst(1000, 20, &text), 20);
  EXPECT_NE(text.find("consumer_lag{partition=\"0\"}"), std::string::npos) << text;
  EXPECT_NE(text.find("consumer_lag{partition=\"1\"}"), std::string::npos) << text;
}

}  // namespace
}  // namespace commsvc::runtime
