// RateLimiter with a hand-moved clock: the burst, the refill rate, the
// Retry-After it computes, independence of keys, and the memory bound.
#include "api/rate_limiter.h"

#include <gtest/gtest.h>

#include <string>

namespace bookd::api {
namespace {

using namespace std::chrono_literals;
using Clock = RateLimiter::Clock;

const Clock::time_point kT0 = Clock::time_point() + 1000h;

TEST(RateLimiterTest, OffAllowsEverything) {
  RateLimiter limiter(0, 0);
  EXPECT_FALSE(limiter.enabled());
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(limiter.Take("k", kT0).allowed);
  EXPECT_EQ(limiter.buckets(), 0u);
}

TEST(RateLimiterTest, BurstThenRefusedWithRetryAfter) {
  RateLimiter limiter(2, 5);  // 2 per second, 5 at once
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(limiter.Take("k", kT0).allowed) << i;
  const auto refused = limiter.Take("k", kT0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_s, 1);  // half a second, rounded up

  EXPECT_FALSE(limiter.Take("k", kT0 + 400ms).allowed);
  EXPECT_TRUE(limiter.Take("k", kT0 + 500ms).allowed);
  EXPECT_FALSE(limiter.Take("k", kT0 + 500ms).allowed);
  EXPECT_TRUE(limiter.Take("k", kT0 + 1000ms).allowed);
}

TEST(RateLimiterTest, RetryAfterIsTheWaitForOneToken) {
  RateLimiter limiter(0.25, 1);  // one token every four seconds
  ASSERT_TRUE(limiter.Take("k", kT0).allowed);
  EXPECT_EQ(limiter.Take("k", kT0).retry_after_s, 4);
  EXPECT_EQ(limiter.Take("k", kT0 + 2500ms).retry_after_s, 2);  // 1.5 s rounded up
  EXPECT_EQ(limiter.Take("k", kT0 + 3999ms).retry_after_s, 1);  // never 0
  EXPECT_TRUE(limiter.Take("k", kT0 + 4s).allowed);
}

TEST(RateLimiterTest, RefillStopsAtTheBurst) {
  RateLimiter limiter(10, 3);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(limiter.Take("k", kT0).allowed);
  const auto later = kT0 + 1h;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(limiter.Take("k", later).allowed) << i;
  EXPECT_FALSE(limiter.Take("k", later).allowed);
}

TEST(RateLimiterTest, KeysHaveTheirOwnBuckets) {
  RateLimiter limiter(1, 2);
  ASSERT_TRUE(limiter.Take("a", kT0).allowed);
  ASSERT_TRUE(limiter.Take("a", kT0).allowed);
  EXPECT_FALSE(limiter.Take("a", kT0).allowed);
  EXPECT_TRUE(limiter.Take("b", kT0).allowed);
  EXPECT_TRUE(limiter.Take("b", kT0).allowed);
  EXPECT_FALSE(limiter.Take("b", kT0).allowed);
}

TEST(RateLimiterTest, AnEarlierClockReadDoesNotDrainOrRefill) {
  RateLimiter limiter(1, 1);
  ASSERT_TRUE(limiter.Take("k", kT0 + 1s).allowed);
  EXPECT_FALSE(limiter.Take("k", kT0).allowed);  // another thread's older read
  EXPECT_TRUE(limiter.Take("k", kT0 + 2s).allowed);
}

TEST(RateLimiterTest, IdleBucketsAreDropped) {
  RateLimiter limiter(100, 10);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(limiter.Take("key-" + std::to_string(i), kT0).allowed);
  EXPECT_EQ(limiter.buckets(), 1000u);
  // After the sweep interval every one of those buckets is full again; the
  // first Take on each shard drops them (200 keys reach all 16 shards).
  ASSERT_TRUE(limiter.Take("key-0", kT0 + 1min).allowed);
  for (int i = 0; i < 200; ++i)
    ASSERT_TRUE(limiter.Take("late-" + std::to_string(i), kT0 + 1min).allowed);
  EXPECT_EQ(limiter.buckets(), 201u);
}

TEST(RateLimiterTest, BucketsAreBoundedWhenAllAreBusy) {
  RateLimiter limiter(1, 1, /*keys_max=*/160);
  for (int i = 0; i < 10000; ++i) {
    ASSERT_TRUE(limiter.Take("key-" + std::to_string(i), kT0).allowed);
  }
  EXPECT_LE(limiter.buckets(), 160u);
  // The most recent keys keep their drained buckets.
  EXPECT_FALSE(limiter.Take("key-9999", kT0).allowed);
}

}  // namespace
}  // namespace bookd::api
