#include "commsvc/backoff.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <thread>

#include "commsvc/shutdown.hpp"

namespace commsvc {
namespace {

using std::chrono::milliseconds;

TEST(BackoffTest, DoublesUpToTheCeilingWithEqualJitter) {
  Backoff backoff(milliseconds(100), milliseconds(1000));
  const long bases[] = {100, 200, 400, 800, 1000, 1000, 1000};
  for (long base : bases) {
    const auto pause = backoff.next().count();
    EXPECT_GE(pause, base - base / 2) << base;
    EXPECT_LE(pause, base) << base;
  }
  backoff.reset();
  EXPECT_LE(backoff.next().count(), 100);
  EXPECT_EQ(backoff.max(), milliseconds(1000));
}

TEST(BackoffTest, PausesAreSpreadSoInstancesDoNotRetryInLockstep) {
  std::set<long> seen;
  for (int i = 0; i < 50; ++i) {
    Backoff backoff(milliseconds(1000), milliseconds(1000));
    seen.insert(backoff.next().count());
  }
  EXPECT_GT(seen.size(), 10u);
}

TEST(BackoffTest, OddArgumentsStayUsable) {
  Backoff zero(milliseconds(0), milliseconds(0));
  EXPECT_GE(zero.next().count(), 0);
  EXPECT_LE(zero.next().count(), 1);
  Backoff inverted(milliseconds(50), milliseconds(10));  // ceiling below the start
  for (int i = 0; i < 5; ++i) EXPECT_LE(inverted.next().count(), 50);
}

TEST(ShutdownTest, RequestWakesSleepersAndKeepsTheEarlierDeadline) {
  Shutdown shutdown;
  EXPECT_FALSE(shutdown.requested());
  EXPECT_EQ(shutdown.deadline(), Shutdown::Clock::time_point::max());
  EXPECT_FALSE(shutdown.sleepFor(milliseconds(1)));
  const auto soon = Shutdown::Clock::now() + std::chrono::seconds(5);
  std::thread requester([&] {
    std::this_thread::sleep_for(milliseconds(50));
    shutdown.request(soon);
  });
  EXPECT_TRUE(shutdown.sleepFor(std::chrono::seconds(30)));  // woken, not 30 s
  requester.join();
  shutdown.request(soon + std::chrono::seconds(10));
  EXPECT_EQ(shutdown.deadline(), soon);
}

}  // namespace
}  // namespace commsvc
