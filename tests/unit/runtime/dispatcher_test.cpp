#include "runtime/dispatcher.hpp"

#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <thread>

#include "../../support/fake_logging.hpp"
#include "logging/metrics_registry.hpp"

namespace commsvc::runtime {
namespace {

using namespace std::chrono_literals;

std::string envelope(const std::string& type, const std::string& payload) {
  return R"({"eventId":"e","eventType":")" + type + R"(","payload":)" + payload + "}";
}

/// Records dead letters; can be told to fail the first N sends.
class RecordingSink final : public DeadLetterSink {
 public:
  bool send(const DeadLetter& letter) override {
    std::lock_guard lock(mutex_);
    if (failFirst_ > 0) {
      --failFirst_;
      return false;
    }
    letters.push_back({std::string(letter.reason), letter.value, letter.offset});
    return true;
  }
  struct Letter {
    std::string reason;
    std::string value;
    std::int64_t offset;
  };
  std::vector<Letter> letters;
  int failFirst_ = 0;
  std::mutex mutex_;
};

/// A handler that records what it saw per key and can be steered by payload.
class ScriptedHandler final : public Handler {
 public:
  HandleResult handle(const Event& event) override {
    const int now = ++active_;
    int seen = maxActive_.load();
    while (now > seen && !maxActive_.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::microseconds(sleepMicros));
    --active_;
    std::lock_guard lock(mutex_);
    if (event.payload.find("reject") != std::string::npos) return HandleResult::reject("no");
    if (event.payload.find("retry") != std::string::npos) {
      if (++attempts_[event.offset] <= retriesBeforeDone) return HandleResult::retry("later");
    }
    if (event.payload.find("throw") != std::string::npos) throw std::runtime_error("kaboom");
    order[event.key].push_back(event.offset);
    return HandleResult::done();
  }
  std::map<std::string, std::vector<std::int64_t>> order;
  int retriesBeforeDone = 0;
  int sleepMicros = 0;
  std::atomic<int> maxActive_{0};

 private:
  std::atomic<int> active_{0};
  std::map<std::int64_t, int> attempts_;
  std::mutex mutex_;
};

class DispatcherTest : public ::testing::Test {
 protected:
  void start(std::size_t workers, int maxRetries = 2) {
    router_.add("t.handled", handler_);
    DispatcherSettings s;
    s.workers = workers;
    s.maxRetries = maxRetries;
    s.retryBackoff = 1ms;
    s.retryBackoffMax = 4ms;
    dispatcher_ = std::make_unique<Dispatcher>(router_, sink_, s, logger_, metrics_);
  }

  void push(const std::string& key, const std::string& value) {
    tracker_->dispatched(next_);
    std::vector<WorkItem> items;
    items.push_back({kafka::Record{"topic", 0, next_++, key, value, {}}, tracker_});
    dispatcher_->dispatch(items);
  }

  void finishAll() {
    ASSERT_EQ(dispatcher_->drain(std::chrono::steady_clock::now() + 10s), DrainResult::Finished);
  }

  double count(const std::string& name) { return metrics_.snapshot()[name]; }

  Router router_;
  ScriptedHandler handler_;
  RecordingSink sink_;
  testing::CapturingLogger logger_;
  logging::MetricsRegistry metrics_;
  std::shared_ptr<PartitionTracker> tracker_ = std::make_shared<PartitionTracker>("topic", 0);
  std::unique_ptr<Dispatcher> dispatcher_;
  std::int64_t next_ = 0;
};

TEST_F(DispatcherTest, KeepsPerKeyOrderAndRunsKeysInParallel) {
  handler_.sleepMicros = 200;
  start(4);
  for (int i = 0; i < 400; ++i) push("k" + std::to_string(i % 8), envelope("t.handled", "{}"));
  finishAll();
  ASSERT_EQ(handler_.order.size(), 8u);
  for (const auto& [key, offsets] : handler_.order) {
    EXPECT_EQ(offsets.size(), 50u) << key;
    EXPECT_TRUE(std::is_sorted(offsets.begin(), offsets.end())) << key;
  }
  EXPECT_GT(handler_.maxActive_.load(), 1) << "different keys should run in parallel";
  EXPECT_EQ(tracker_->advance(), 400);
  EXPECT_EQ(count("events_handled_total"), 400);
}

// A reload swaps the routes between records: what was dispatched before is
// handled by the old pipeline, what comes after by the new one, per key in
// order, and the old routes are released once their records are done.
TEST_F(DispatcherTest, SwappedRoutesTakeRecordsDispatchedAfterTheSwap) {
  handler_.sleepMicros = 2000;
  start(2);
  for (int i = 0; i < 40; ++i) push("k" + std::to_string(i % 4), envelope("t.handled", "{}"));
  ScriptedHandler next;
  auto nextRouter = std::make_shared<Router>();
  nextRouter->add("t.handled", next);
  dispatcher_->setRouter(nextRouter);
  for (int i = 40; i < 80; ++i) push("k" + std::to_string(i % 4), envelope("t.handled", "{}"));
  finishAll();
  std::size_t old = 0;
  std::size_t fresh = 0;
  for (const auto& [key, offsets] : handler_.order) {
    old += offsets.size();
    for (const auto offset : offsets) EXPECT_LT(offset, 40) << key;
    EXPECT_TRUE(std::is_sorted(offsets.begin(), offsets.end())) << key;
  }
  for (const auto& [key, offsets] : next.order) {
    fresh += offsets.size();
    for (const auto offset : offsets) EXPECT_GE(offset, 40) << key;
    EXPECT_TRUE(std::is_sorted(offsets.begin(), offsets.end())) << key;
  }
  EXPECT_EQ(old, 40u);
  EXPECT_EQ(fresh, 40u);
  EXPECT_EQ(tracker_->advance(), 80);
  EXPECT_EQ(nextRouter.use_count(), 2) << "the dispatcher and this test hold the new routes";
}

TEST_F(DispatcherTest, InvalidEnvelopesAreDeadLetteredWithTheirReasonAndBytes) {
  start(2);
  push("1", "not json at all");
  push("2", R"({"payload":{}})");
  push("3", R"({"eventType":"t.handled","payload":[1]})");
  push("4", envelope("t.handled", "{}"));
  finishAll();
  ASSERT_EQ(sink_.letters.size(), 3u);
  std::map<std::int64_t, RecordingSink::Letter> byOffset;
  for (const auto& l : sink_.letters) byOffset[l.offset] = l;
  EXPECT_EQ(byOffset[0].reason, "not_json");
  EXPECT_EQ(byOffset[0].value, "not json at all");
  EXPECT_EQ(byOffset[1].reason, "missing_event_type");
  EXPECT_EQ(byOffset[2].reason, "payload_not_object");
  EXPECT_EQ(handler_.order["4"].size(), 1u) << "consumption goes on after bad records";
  EXPECT_EQ(tracker_->advance(), 4) << "dead-lettered records count as finished";
}

TEST_F(DispatcherTest, UnhandledTypesAreSkippedAndCounted) {
  start(2);
  push("1", envelope("email.sent", "{}"));
  push("1", envelope("t.handled", "{}"));
  finishAll();
  EXPECT_EQ(count("events_unhandled_total"), 1);
  EXPECT_EQ(count("events_handled_total"), 1);
  EXPECT_EQ(tracker_->advance(), 2);
}

TEST_F(DispatcherTest, RejectAndExhaustedRetriesGoToTheDeadLetterTopic) {
  handler_.retriesBeforeDone = 100;
  start(2, 2);
  push("1", envelope("t.handled", R"({"x":"reject"})"));
  push("2", envelope("t.handled", R"({"x":"retry"})"));
  push("3", envelope("t.handled", R"({"x":"throw"})"));
  finishAll();
  std::map<std::int64_t, std::string> reasons;
  for (const auto& l : sink_.letters) reasons[l.offset] = l.reason;
  EXPECT_EQ(reasons[0], "rejected");
  EXPECT_EQ(reasons[1], "retries_exhausted");
  EXPECT_EQ(reasons[2], "retries_exhausted") << "an exception counts as a retry";
  EXPECT_EQ(count("handler_retries_total"), 4);
}

TEST_F(DispatcherTest, RetriedEventsSucceedWithinTheBound) {
  handler_.retriesBeforeDone = 2;
  start(1, 3);
  push("1", envelope("t.handled", R"({"x":"retry"})"));
  finishAll();
  EXPECT_TRUE(sink_.letters.empty());
  EXPECT_EQ(handler_.order["1"].size(), 1u);
  EXPECT_EQ(count("handler_retries_total"), 2);
}

TEST_F(DispatcherTest, AFailingDeadLetterSinkIsRetriedUntilItWorks) {
  sink_.failFirst_ = 3;
  start(1);
  push("1", "garbage");
  finishAll();
  ASSERT_EQ(sink_.letters.size(), 1u);
  EXPECT_EQ(tracker_->advance(), 1);
}

TEST_F(DispatcherTest, DrainAtTheDeadlineAbandonsUnfinishedWork) {
  handler_.sleepMicros = 50000;
  start(1);
  for (int i = 0; i < 20; ++i) push("same-key", envelope("t.handled", "{}"));
  const auto result = dispatcher_->drain(std::chrono::steady_clock::now() + 120ms);
  EXPECT_EQ(result, DrainResult::Abandoned);
  const auto handled = handler_.order["same-key"].size();
  EXPECT_GT(handled, 0u);
  EXPECT_LT(handled, 20u);
  EXPECT_EQ(tracker_->advance(), static_cast<std::int64_t>(handled))
      << "only finished records may be stored";
  EXPECT_EQ(dispatcher_->pending(), 0u);
}

TEST_F(DispatcherTest, SkipsRecordsOfRevokedPartitions) {
  start(1);
  tracker_->revoke();
  push("1", envelope("t.handled", "{}"));
  finishAll();
  EXPECT_TRUE(handler_.order.empty());
}

// ---- batches --------------------------------------------------------------

/// A BatchHandler recording the batches it got; payload "reject"/"retry"
/// steer single events, "throw-batch" makes the whole batch throw.
class RecordingBatchHandler final : public BatchHandler {
 public:
  HandleResult handle(const Event& event) override {
    std::lock_guard lock(mutex_);
    singles.push_back(event.offset);
    if (event.payload.find("retry") != std::string::npos && ++attempts_[event.offset] <= 1) {
      return HandleResult::retry("later");
    }
    order[event.key].push_back(event.offset);
    return HandleResult::done();
  }
  std::vector<HandleResult> handleBatch(std::span<const Event> events) override {
    if (gate) gate();
    std::lock_guard lock(mutex_);
    batches.emplace_back();
    std::vector<HandleResult> results;
    for (const Event& event : events) {
      batches.back().push_back(event.offset);
      if (event.payload.find("throw-batch") != std::string::npos) throw std::runtime_error("boom");
      if (event.payload.find("reject") != std::string::npos) {
        results.push_back(HandleResult::reject("no"));
      } else if (event.payload.find("retry") != std::string::npos &&
                 ++attempts_[event.offset] <= 1) {
        results.push_back(HandleResult::retry("later"));
      } else {
        order[event.key].push_back(event.offset);
        results.push_back(HandleResult::done());
      }
    }
    return results;
  }
  std::function<void()> gate;  // called before each batch, without the lock
  std::vector<std::vector<std::int64_t>> batches;
  std::vector<std::int64_t> singles;
  std::map<std::string, std::vector<std::int64_t>> order;

 private:
  std::map<std::int64_t, int> attempts_;
  std::mutex mutex_;
};

class DispatcherBatchTest : public DispatcherTest {
 protected:
  void startBatches(std::size_t batchSize, std::size_t workers = 1) {
    router_.add("t.batched", batchHandler_);
    DispatcherSettings s;
    s.workers = workers;
    s.maxRetries = 2;
    s.retryBackoff = 1ms;
    s.retryBackoffMax = 4ms;
    s.batchSize = batchSize;
    start(0);  // t.handled route; replaced below
    dispatcher_ = std::make_unique<Dispatcher>(router_, sink_, s, logger_, metrics_);
  }
  // Pushes `n` records in one dispatch (as one poll would).
  void pushMany(const std::vector<std::pair<std::string, std::string>>& records) {
    std::vector<WorkItem> items;
    for (const auto& [key, value] : records) {
      tracker_->dispatched(next_);
      items.push_back({kafka::Record{"topic", 0, next_++, key, value, {}}, tracker_});
    }
    dispatcher_->dispatch(items);
  }
  RecordingBatchHandler batchHandler_;
};

TEST_F(DispatcherBatchTest, WaitingEventsGoInBatchesUpToTheLimitInOrder) {
  // The worker is held in its first batch while 25 more records queue up.
  std::atomic<bool> release{false};
  std::atomic<int> calls{0};
  batchHandler_.gate = [&] {
    if (calls++ == 0) {
      while (!release.load()) std::this_thread::sleep_for(1ms);
    }
  };
  startBatches(10);
  pushMany({{"a", envelope("t.batched", "{}")}});
  while (calls.load() == 0) std::this_thread::sleep_for(1ms);
  std::vector<std::pair<std::string, std::string>> more;
  for (int i = 0; i < 25; ++i)
    more.emplace_back(std::to_string(i % 3), envelope("t.batched", "{}"));
  pushMany(more);
  release = true;
  finishAll();
  ASSERT_EQ(batchHandler_.batches.size(), 4u);
  EXPECT_EQ(batchHandler_.batches[0], std::vector<std::int64_t>{0}) << "a lone event goes at once";
  EXPECT_EQ(batchHandler_.batches[1].size(), 10u);
  EXPECT_EQ(batchHandler_.batches[2].size(), 10u);
  EXPECT_EQ(batchHandler_.batches[3].size(), 5u);
  std::vector<std::int64_t> all;
  for (const auto& b : batchHandler_.batches) all.insert(all.end(), b.begin(), b.end());
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
  EXPECT_EQ(all.size(), 26u);
  EXPECT_TRUE(batchHandler_.singles.empty());
  EXPECT_EQ(tracker_->advance(), 26);
  EXPECT_EQ(count("events_handled_total"), 26);
}

TEST_F(DispatcherBatchTest, ABatchStopsAtAnotherTypeOrABadRecordWhichKeepTheirPlace) {
  startBatches(50);
  pushMany({{"1", envelope("t.batched", "{}")},
            {"1", envelope("t.batched", "{}")},
            {"1", envelope("t.handled", "{}")},
            {"1", envelope("t.batched", "{}")},
            {"1", "garbage"},
            {"1", envelope("t.batched", "{}")}});
  finishAll();
  ASSERT_EQ(batchHandler_.batches.size(), 3u);
  EXPECT_EQ(batchHandler_.batches[0], (std::vector<std::int64_t>{0, 1}));
  EXPECT_EQ(batchHandler_.batches[1], (std::vector<std::int64_t>{3}));
  EXPECT_EQ(batchHandler_.batches[2], (std::vector<std::int64_t>{5}));
  EXPECT_EQ(handler_.order["1"], std::vector<std::int64_t>{2}) << "with its key";
  ASSERT_EQ(sink_.letters.size(), 1u);
  EXPECT_EQ(sink_.letters[0].offset, 4);
  EXPECT_EQ(tracker_->advance(), 6);
}

TEST_F(DispatcherBatchTest, RetriesOfABatchRunAloneAndRejectsAreDeadLettered) {
  startBatches(50);
  pushMany({{"1", envelope("t.batched", "{}")},
            {"2", envelope("t.batched", R"({"x":"retry"})")},
            {"3", envelope("t.batched", R"({"x":"reject"})")},
            {"4", envelope("t.batched", "{}")}});
  finishAll();
  ASSERT_EQ(batchHandler_.batches.size(), 1u);
  EXPECT_EQ(batchHandler_.singles, std::vector<std::int64_t>{1}) << "the retry, alone";
  EXPECT_EQ(batchHandler_.order["2"], std::vector<std::int64_t>{1});
  ASSERT_EQ(sink_.letters.size(), 1u);
  EXPECT_EQ(sink_.letters[0].reason, "rejected");
  EXPECT_EQ(count("handler_retries_total"), 1);
  EXPECT_EQ(count("events_handled_total"), 3);
  EXPECT_EQ(tracker_->advance(), 4);
}

TEST_F(DispatcherBatchTest, ABatchThatThrowsIsRetriedEventByEvent) {
  startBatches(50);
  pushMany({{"1", envelope("t.batched", "{}")},
            {"2", envelope("t.batched", "{\"x\":\"throw-batch\"}")}});
  finishAll();
  EXPECT_EQ(batchHandler_.singles, (std::vector<std::int64_t>{0, 1}));
  EXPECT_EQ(count("handler_retries_total"), 2);
  EXPECT_EQ(tracker_->advance(), 2);
}

TEST_F(DispatcherBatchTest, BatchSizeOneHandsEventsOverOneByOne) {
  startBatches(1);
  pushMany({{"1", envelope("t.batched", "{}")}, {"2", envelope("t.batched", "{}")}});
  finishAll();
  EXPECT_TRUE(batchHandler_.batches.empty());
  EXPECT_EQ(batchHandler_.singles, (std::vector<std::int64_t>{0, 1}));
}

}  // namespace
}  // namespace commsvc::runtime
