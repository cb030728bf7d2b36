#include "runtime/scheduler.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "../../support/fake_logging.hpp"

namespace commsvc::runtime {
namespace {

using namespace std::chrono_literals;

TEST(Scheduler, RunsJobsRepeatedlyAndSurvivesExceptions) {
  testing::CapturingLogger logger;
  Scheduler scheduler(logger);
  std::atomic<int> fast{0}, throwing{0}, slow{0};
  scheduler.add("fast", 10ms, [&] { ++fast; });
  scheduler.add("throwing", 10ms, [&] {
    ++throwing;
    throw std::runtime_error("boom");
  });
  scheduler.add("slow", 10h, [&] { ++slow; });
  scheduler.start();
  std::this_thread::sleep_for(200ms);
  scheduler.stop();
  EXPECT_GE(fast.load(), 5);
  EXPECT_GE(throwing.load(), 5) << "a job that throws runs again";
  EXPECT_EQ(slow.load(), 1) << "every job runs once right after start";
  const auto lines = logger.lines();
  EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [](const std::string& l) {
    return l.find("job=throwing") != std::string::npos && l.find("boom") != std::string::npos;
  }));
}

TEST(Scheduler, StopWaitsForTheRunningJob) {
  testing::CapturingLogger logger;
  Scheduler scheduler(logger);
  std::atomic<bool> finished{false};
  std::atomic<bool> started{false};
  scheduler.add("long", 1h, [&] {
    started = true;
    std::this_thread::sleep_for(100ms);
    finished = true;
  });
  scheduler.start();
  while (!started) std::this_thread::sleep_for(1ms);
  scheduler.stop();
  EXPECT_TRUE(finished.load());
}

TEST(Scheduler, TriggerRunsAJobEarlyAndOnceForManyTriggers) {
  testing::CapturingLogger logger;
  Scheduler scheduler(logger);
  std::atomic<int> runs{0};
  std::atomic<bool> hold{true};
  scheduler.add("hourly", 1h, [&] {
    ++runs;
    while (hold.load()) std::this_thread::sleep_for(1ms);
  });
  scheduler.start();
  while (runs.load() == 0) std::this_thread::sleep_for(1ms);
  // Triggered three times while running: one more run right after.
  for (int i = 0; i < 3; ++i) scheduler.trigger("hourly");
  hold = false;
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(runs.load(), 2);
  // Triggered while waiting for its hour: runs at once.
  scheduler.trigger("hourly");
  scheduler.trigger("no such job");  // ignored
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(runs.load(), 3);
  scheduler.stop();
}

TEST(Scheduler, ADrainingJobRunsAgainAtOnceWhileItReportsMoreWork) {
  testing::CapturingLogger logger;
  Scheduler scheduler(logger);
  std::atomic<int> runs{0};
  std::atomic<int> other{0};
  scheduler.addDraining("drain", 1h, [&] { return ++runs < 5; });
  scheduler.add("other", 1h, [&] { ++other; });
  scheduler.start();
  std::this_thread::sleep_for(200ms);
  scheduler.stop();
  EXPECT_EQ(runs.load(), 5) << "four more runs at once, then its interval";
  EXPECT_EQ(other.load(), 1) << "other jobs still run";
}

}  // namespace
}  // namespace commsvc::runtime
