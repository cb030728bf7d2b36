#include "runtime/partition_tracker.hpp"

#include <gtest/gtest.h>

namespace commsvc::runtime {
namespace {

TEST(PartitionTracker, StoresOnlyUpToTheLastContiguousFinishedRecord) {
  PartitionTracker t("topic", 0);
  for (std::int64_t o = 10; o < 15; ++o) t.dispatched(o);
  t.finished(11);
  t.finished(12);
  EXPECT_EQ(t.advance(), std::nullopt) << "10 is not finished, nothing may be stored";
  t.finished(10);
  EXPECT_EQ(t.advance(), 13);
  EXPECT_EQ(t.advance(), std::nullopt) << "no progress, nothing new to store";
  t.finished(14);
  EXPECT_EQ(t.advance(), std::nullopt);
  t.finished(13);
  EXPECT_EQ(t.advance(), 15);
  EXPECT_EQ(t.unfinished(), 0u);
}

TEST(PartitionTracker, HandlesGapsInOffsets) {
  PartitionTracker t("topic", 1);
  t.dispatched(3);
  t.dispatched(7);
  t.dispatched(20);
  t.finished(7);
  t.finished(3);
  EXPECT_EQ(t.advance(), 8);
  t.finished(20);
  EXPECT_EQ(t.advance(), 21);
}

TEST(PartitionTracker, CommitForgetsRecordsAndCountsUncommitted) {
  PartitionTracker t("topic", 0);
  for (std::int64_t o = 0; o < 5; ++o) t.dispatched(o);
  EXPECT_EQ(t.uncommitted(), 5u);
  t.finished(0);
  t.finished(1);
  t.finished(2);
  ASSERT_EQ(t.advance(), 3);
  t.committed(3);
  EXPECT_EQ(t.uncommitted(), 2u);
  EXPECT_EQ(t.unfinished(), 2u);
  t.finished(3);
  EXPECT_EQ(t.advance(), 4);
  t.dispatched(5);
  t.finished(5);
  EXPECT_EQ(t.advance(), std::nullopt) << "4 is still running";
  t.finished(4);
  EXPECT_EQ(t.advance(), 6);
  t.committed(6);
  EXPECT_EQ(t.uncommitted(), 0u);
}

TEST(PartitionTracker, RefusesDecreasingOffsets) {
  PartitionTracker t("topic", 0);
  t.dispatched(5);
  EXPECT_THROW(t.dispatched(5), std::logic_error);
  EXPECT_THROW(t.dispatched(4), std::logic_error);
}

TEST(PartitionTracker, RevokeIsVisible) {
  PartitionTracker t("topic", 2);
  EXPECT_FALSE(t.revoked());
  t.revoke();
  EXPECT_TRUE(t.revoked());
}

}  // namespace
}  // namespace commsvc::runtime
