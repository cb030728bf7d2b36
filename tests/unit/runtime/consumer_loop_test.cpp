// The consumer loop against the embedded broker (a real Kafka-protocol
// broker over TCP): flow control at the edges of max_in_flight.

#include "runtime/consumer_loop.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

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
    // Statistics rounds after the commits, until both partitions' gauges
    // are there: a round may carry one partition's lag before the other's.
    if (metricsOut != nullptr) {
      const auto lagOfBoth = [&] {
        const std::string text = metrics.renderText();
        return text.find("consumer_lag{partition=\"0\"}") != std::string::npos &&
               text.find("consumer_lag{partition=\"1\"}") != std::string::npos;
      };
      while (!lagOfBoth() && Clock::now() < until) {
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

// Records every event's partition and offset, taking `delay` per record.
class RecordingHandler final : public Handler {
 public:
  explicit RecordingHandler(std::chrono::microseconds delay) : delay_(delay) {}
  HandleResult handle(const Event& e) override {
    if (delay_.count() > 0) std::this_thread::sleep_for(delay_);
    {
      std::lock_guard lock(mutex);
      offsets[e.partition].push_back(e.offset);
      byKey[e.key].push_back(e.offset);
    }
    count.fetch_add(1);
    return HandleResult::done();
  }
  std::mutex mutex;
  std::map<std::int32_t, std::vector<std::int64_t>> offsets;  // in handling order
  std::map<std::string, std::vector<std::int64_t>> byKey;     // in handling order
  std::atomic<long> count{0};

 private:
  std::chrono::microseconds delay_;
};

// Produces `records` records over 2 partitions (keys i % 7), then
// consumes them with a loop of `loop` settings and `handler` until all arrived
// or `limit` passed. Returns the loop's stats.
ConsumerLoopStats consume(long records, ConsumerLoopSettings loop, RecordingHandler& handler,
                          std::chrono::seconds limit) {
  auto logger = logging::makeLogger("consumer-loop-test");
  kafka::EmbeddedBroker broker(1, {{"events", 2}, {"events.dlq", 1}});
  {
    kafka::RawProducer producer(
        {{"bootstrap.servers", broker.bootstrapServers()}, {"linger.ms", "5"}}, *logger);
    for (long i = 0; i < records; ++i) {
      const Event e = makeEvent("test.event", std::to_string(i % 7), "{}");
      producer.send("events", e.key, toEnvelopeJson(e), {}, nullptr);
    }
    producer.flush(std::chrono::seconds(30));
  }
  Router router;
  router.add("test.event", handler);
  NoDeadLetters sink;
  logging::MetricsRegistry metrics;
  DispatcherSettings dispatch;
  dispatch.workers = 2;
  Dispatcher dispatcher(router, sink, dispatch, *logger, metrics);
  ConsumerLoop consumer({{"bootstrap.servers", broker.bootstrapServers()},
                         {"group.id", "consumer-loop-test"},
                         {"session.timeout.ms", "6000"}},
                        "events", dispatcher, loop, *logger, metrics);
  std::atomic<bool> stop{false};
  std::thread watcher([&] {
    const auto until = Clock::now() + limit;
    while (handler.count.load() < records && Clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    stop = true;
  });
  consumer.run(stop);
  watcher.join();
  return consumer.stats();
}

// Every record handled exactly once (each partition's offsets contiguous,
// none twice), each key's records in offset order.
void expectAllOnceInOrder(RecordingHandler& handler, long records) {
  std::lock_guard lock(handler.mutex);
  long total = 0;
  for (auto [partition, offsets] : handler.offsets) {
    total += static_cast<long>(offsets.size());
    std::sort(offsets.begin(), offsets.end());
    for (std::size_t i = 1; i < offsets.size(); ++i) {
      ASSERT_EQ(offsets[i], offsets[i - 1] + 1)
          << "partition " << partition << ": a record lost or repeated after " << offsets[i - 1];
    }
  }
  for (const auto& [key, offsets] : handler.byKey) {
    ASSERT_TRUE(std::is_sorted(offsets.begin(), offsets.end())) << "key " << key << " reordered";
  }
  EXPECT_EQ(total, records);
}

// A burst far larger than max_in_flight, handlers that keep up: the window
// fills again and again, but the loop waits for commits instead of pausing
// (a pause purges librdkafka's prefetch and costs about a second).
TEST(ConsumerLoopTest, BurstWithHandlersKeepingUpNeverPauses) {
  RecordingHandler handler(std::chrono::microseconds(0));
  ConsumerLoopSettings loop;
  loop.maxInFlight = 500;
  const long records = 20000;
  const auto stats = consume(records, loop, handler, std::chrono::seconds(60));
  EXPECT_EQ(stats.pauses, 0u);
  EXPECT_LE(stats.peakInFlight, loop.maxInFlight);
  EXPECT_EQ(stats.peakInFlight, loop.maxInFlight) << "the window never filled: test too easy";
  expectAllOnceInOrder(handler, records);
}

// Handlers slower than pauseAfter (50 ms a record): the window stays full,
// the partitions are paused and resumed, in-flight records stay within
// max_in_flight, and nothing is lost, repeated or reordered across the
// pauses (librdkafka fetches again what a pause purged).
TEST(ConsumerLoopTest, StuckHandlersPauseWithinTheBoundAndLoseNothing) {
  RecordingHandler handler(std::chrono::milliseconds(50));
  ConsumerLoopSettings loop;
  loop.maxInFlight = 4;
  loop.pauseAfter = std::chrono::milliseconds(20);
  const long records = 24;
  const auto stats = consume(records, loop, handler, std::chrono::seconds(60));
  EXPECT_GE(stats.pauses, 1u);
  EXPECT_LE(stats.peakInFlight, loop.maxInFlight);
  expectAllOnceInOrder(handler, records);
}

// Handlers that work but fall behind (1 ms a record, the window moving):
// once the prefetched backlog would take longer than maxBacklogWait, the
// partitions are paused (so a rebalance does not wait behind it), with the
// same guarantees.
TEST(ConsumerLoopTest, BacklogBeyondMaxBacklogWaitPausesAndLosesNothing) {
  RecordingHandler handler(std::chrono::microseconds(1000));
  ConsumerLoopSettings loop;
  loop.maxInFlight = 100;
  loop.maxBacklogWait = std::chrono::milliseconds(200);
  const long records = 4000;
  const auto stats = consume(records, loop, handler, std::chrono::seconds(60));
  EXPECT_GE(stats.pauses, 1u);
  EXPECT_LE(stats.peakInFlight, loop.maxInFlight);
  expectAllOnceInOrder(handler, records);
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
