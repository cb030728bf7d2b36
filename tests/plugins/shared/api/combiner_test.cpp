// Tests of api::Combiner: a lone caller runs at once; callers arriving
// while batches run share the next batch; the limits on batch size and
// batches at once hold; errors reach only the callers they belong to.

#include "combiner.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace commsvc::plugins::api {
namespace {

using IntCombiner = Combiner<int, int>;

// Records the batches run and can hold them until released.
class Recorder {
 public:
  explicit Recorder(bool hold) : released_(!hold) {}

  // Runs `batch`: results are job * 10; a job of -1 fails alone.
  void run(std::span<IntCombiner::Entry* const> batch) {
    {
      std::unique_lock lock(mutex_);
      sizes_.push_back(batch.size());
      ++running_;
      maxRunning_ = std::max(maxRunning_, running_);
      changed_.notify_all();
      changed_.wait(lock, [&] { return released_; });
      --running_;
    }
    for (IntCombiner::Entry* entry : batch) {
      if (entry->job == -1) {
        entry->error = std::make_exception_ptr(std::invalid_argument("job -1"));
      } else {
        entry->result = entry->job * 10;
      }
    }
  }

  // Waits until `n` batches are running (held); false after 10 s.
  bool awaitRunning(std::size_t n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return running_ >= n; });
  }

  void release() {
    std::lock_guard lock(mutex_);
    released_ = true;
    changed_.notify_all();
  }

  std::vector<std::size_t> sizes() const {
    std::lock_guard lock(mutex_);
    return sizes_;
  }

  std::size_t maxRunning() const {
    std::lock_guard lock(mutex_);
    return maxRunning_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool released_;
  std::size_t running_ = 0;
  std::size_t maxRunning_ = 0;
  std::vector<std::size_t> sizes_;
};

// Waits until `combiner` has `n` callers waiting; false after 10 s.
bool awaitWaiting(const IntCombiner& combiner, std::size_t n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (combiner.waiting() < n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

TEST(CombinerTest, ALoneCallerRunsAtOnceInABatchOfItsOwn) {
  Recorder recorder(/*hold=*/false);
  IntCombiner combiner(64, 1, [&](auto batch) { recorder.run(batch); });
  EXPECT_EQ(combiner.run(4), 40);
  EXPECT_EQ(combiner.run(5), 50);
  EXPECT_EQ(recorder.sizes(), (std::vector<std::size_t>{1, 1}));
}

TEST(CombinerTest, CallersArrivingWhileABatchRunsShareTheNextBatch) {
  Recorder recorder(/*hold=*/true);
  IntCombiner combiner(64, 1, [&](auto batch) { recorder.run(batch); });
  auto first = std::async(std::launch::async, [&] { return combiner.run(1); });
  ASSERT_TRUE(recorder.awaitRunning(1));
  std::vector<std::future<int>> later;
  for (int job = 2; job <= 6; ++job) {
    later.push_back(std::async(std::launch::async, [&combiner, job] { return combiner.run(job); }));
  }
  ASSERT_TRUE(awaitWaiting(combiner, 5));
  recorder.release();
  EXPECT_EQ(first.get(), 10);
  for (int job = 2; job <= 6; ++job) EXPECT_EQ(later[job - 2].get(), job * 10);
  EXPECT_EQ(recorder.sizes(), (std::vector<std::size_t>{1, 5}));
}

TEST(CombinerTest, BatchesStayWithinTheirSizeAndNumberRunningAtOnce) {
  Recorder recorder(/*hold=*/true);
  IntCombiner combiner(3, 2, [&](auto batch) { recorder.run(batch); });
  std::vector<std::future<int>> calls;
  for (int job = 1; job <= 2; ++job) {
    calls.push_back(std::async(std::launch::async, [&combiner, job] { return combiner.run(job); }));
  }
  ASSERT_TRUE(recorder.awaitRunning(2));
  for (int job = 3; job <= 9; ++job) {
    calls.push_back(std::async(std::launch::async, [&combiner, job] { return combiner.run(job); }));
  }
  ASSERT_TRUE(awaitWaiting(combiner, 7));
  recorder.release();
  for (int job = 1; job <= 9; ++job) EXPECT_EQ(calls[job - 1].get(), job * 10);
  const std::vector<std::size_t> sizes = recorder.sizes();
  EXPECT_EQ(recorder.maxRunning(), 2u);
  EXPECT_TRUE(std::all_of(sizes.begin(), sizes.end(), [](std::size_t n) { return n <= 3; }));
  std::size_t total = 0;
  for (const std::size_t n : sizes) total += n;
  EXPECT_EQ(total, 9u);
  EXPECT_LE(sizes.size(), 5u);  // 1 + 1 held, then 7 in batches of at most 3
}

TEST(CombinerTest, AJobsErrorReachesOnlyItsCaller) {
  Recorder recorder(/*hold=*/true);
  IntCombiner combiner(64, 1, [&](auto batch) { recorder.run(batch); });
  auto first = std::async(std::launch::async, [&] { return combiner.run(1); });
  ASSERT_TRUE(recorder.awaitRunning(1));
  auto failing = std::async(std::launch::async, [&] { return combiner.run(-1); });
  auto other = std::async(std::launch::async, [&] { return combiner.run(7); });
  ASSERT_TRUE(awaitWaiting(combiner, 2));
  recorder.release();
  EXPECT_EQ(first.get(), 10);
  EXPECT_THROW(failing.get(), std::invalid_argument);
  EXPECT_EQ(other.get(), 70);
  EXPECT_EQ(recorder.sizes(), (std::vector<std::size_t>{1, 2}));
}

TEST(CombinerTest, ABatchThatThrowsFailsItsCallersAndTheNextBatchRuns) {
  std::atomic<bool> down{true};
  IntCombiner combiner(64, 1, [&](std::span<IntCombiner::Entry* const> batch) {
    if (down) throw std::runtime_error("database down");
    for (IntCombiner::Entry* entry : batch) entry->result = entry->job;
  });
  try {
    combiner.run(1);
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "database down");
  }
  down = false;
  EXPECT_EQ(combiner.run(2), 2);
  EXPECT_EQ(combiner.waiting(), 0u);
}

TEST(CombinerTest, AJobTheBatchLeftUnsetFailsInsteadOfHanging) {
  IntCombiner combiner(64, 1, [](std::span<IntCombiner::Entry* const>) {});
  EXPECT_THROW(combiner.run(1), std::logic_error);
}

}  // namespace
}  // namespace commsvc::plugins::api
