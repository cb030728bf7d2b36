// HeapTrimmer (engine/src/app/heap_trim): memory a burst freed goes back to
// the system once the process is quiet, and only then.

#include "app/heap_trim.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace commsvc::app {
namespace {

constexpr std::size_t kMiB = std::size_t{1} << 20;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kGlibcMalloc = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kGlibcMalloc = false;
#else
constexpr bool kGlibcMalloc = true;
#endif
#else
constexpr bool kGlibcMalloc = true;
#endif

TEST(HeapTrim, DueOnlyWhenQuietAndGrown) {
  const HeapTrimSettings s{.minGrowth = 2 * kMiB, .maxBusy = 0.25};
  EXPECT_TRUE(trimDue(s, 0.05, 2 * kMiB, 0));  // resident memory grew
  EXPECT_TRUE(trimDue(s, 0.05, 0, 2 * kMiB));  // free heap grew
  EXPECT_TRUE(trimDue(s, 0.25, 20 * kMiB, 20 * kMiB));
  EXPECT_FALSE(trimDue(s, 0.26, 20 * kMiB, 20 * kMiB));       // busy
  EXPECT_FALSE(trimDue(s, 0.0, 2 * kMiB - 1, 2 * kMiB - 1));  // not grown enough
}

TEST(HeapTrim, ResidentAnonymousMemoryFollowsTouchedAllocations) {
  if (!kGlibcMalloc) GTEST_SKIP() << "the sanitizer's allocator, not glibc's";
  const std::size_t before = residentAnonymousBytes();
  ASSERT_GT(before, 0U);
  std::vector<char> block(16 * kMiB);
  std::memset(block.data(), 1, block.size());
  EXPECT_GE(residentAnonymousBytes(), before + 15 * kMiB);
}

// A burst of 32 MB in 512-byte blocks, all allocated (and touched) before
// any is freed. fragment() frees all but every 16th, which stay alive
// until destruction: glibc keeps the freed ones in between, with no top of
// the heap to shrink, until a trim.
class FragmentedBurst {
 public:
  FragmentedBurst() : blocks_(64 * 1024) {
    for (void*& block : blocks_) {
      block = std::malloc(512);
      std::memset(block, 1, 512);
    }
  }
  ~FragmentedBurst() {
    for (void* block : blocks_) std::free(block);
  }
  FragmentedBurst(const FragmentedBurst&) = delete;
  FragmentedBurst& operator=(const FragmentedBurst&) = delete;

  // Frees 15 blocks of every 16.
  void fragment() {
    for (std::size_t i = 0; i < blocks_.size(); ++i) {
      if (i % 16 != 15) {
        std::free(blocks_[i]);
        blocks_[i] = nullptr;
      }
    }
  }

 private:
  std::vector<void*> blocks_;
};

TEST(HeapTrim, AQuietCheckAfterABurstGivesTheFreedMemoryBack) {
  if (!kGlibcMalloc) GTEST_SKIP() << "the sanitizer's allocator, not glibc's";
  HeapTrimmer trimmer({.minGrowth = 2 * kMiB, .maxBusy = 0.5});
  FragmentedBurst burst;
  burst.fragment();
  const std::size_t grown = residentAnonymousBytes();

  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // quiet
  const std::size_t back = trimmer.check();
  EXPECT_GE(back, 8 * kMiB);
  EXPECT_LE(residentAnonymousBytes(), grown - 8 * kMiB);
  EXPECT_EQ(trimmer.check(), 0U);  // nothing grew since
}

// A check while a burst's memory is still in use (quiet CPU: a process
// waiting on I/O) trims little; the memory freed after it still goes back
// at the next quiet check. (Before the free-heap signal, that first trim
// reset the growth baseline and the burst's memory stayed resident.)
TEST(HeapTrim, MemoryFreedAfterATrimDuringTheBurstStillGoesBack) {
  if (!kGlibcMalloc) GTEST_SKIP() << "the sanitizer's allocator, not glibc's";
  HeapTrimmer trimmer({.minGrowth = 2 * kMiB, .maxBusy = 0.5});
  FragmentedBurst burst;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // quiet, all in use
  EXPECT_LT(trimmer.check(), 2 * kMiB);
  burst.fragment();
  const std::size_t grown = residentAnonymousBytes();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_GE(trimmer.check(), 8 * kMiB);
  EXPECT_LE(residentAnonymousBytes(), grown - 8 * kMiB);
}

TEST(HeapTrim, NoTrimWhileTheProcessIsBusy) {
  if (!kGlibcMalloc) GTEST_SKIP() << "the sanitizer's allocator, not glibc's";
  HeapTrimmer trimmer({.minGrowth = 2 * kMiB, .maxBusy = 0.02});
  FragmentedBurst burst;
  burst.fragment();
  const std::size_t grown = residentAnonymousBytes();
  // Two threads spinning: far above 0.02 cores however loaded the machine.
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  std::vector<std::thread> spinners;
  for (int t = 0; t < 2; ++t) {
    spinners.emplace_back([until] {
      while (std::chrono::steady_clock::now() < until) {
      }
    });
  }
  for (auto& s : spinners) s.join();
  EXPECT_EQ(trimmer.check(), 0U);
  EXPECT_GE(residentAnonymousBytes() + kMiB, grown);
}

}  // namespace
}  // namespace commsvc::app
