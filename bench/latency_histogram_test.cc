// Goal: the percentiles the load generator reports follow the nearest-rank definition within
// the histogram's stated relative error. Method: record known distributions and compare with
// the exact order statistics computed from a sorted copy.
#include "latency_histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace bookd::bench {
namespace {

std::uint64_t ExactNearestRank(std::vector<std::uint64_t> values, double p) {
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * double(values.size())));
  return values[std::max<std::size_t>(rank, 1) - 1];
}

TEST(LatencyHistogram, EmptyReportsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.Percentile(50), 0u);
  EXPECT_EQ(h.max_ns(), 0u);
}

TEST(LatencyHistogram, SmallValuesAreExact) {
  LatencyHistogram h;
  for (std::uint64_t v = 1; v <= 100; ++v) h.Record(v);
  EXPECT_EQ(h.Percentile(50), 50u);
  EXPECT_EQ(h.Percentile(90), 90u);
  EXPECT_EQ(h.Percentile(99), 99u);
  EXPECT_EQ(h.Percentile(100), 100u);
  EXPECT_EQ(h.min_ns(), 1u);
}

TEST(LatencyHistogram, IndexAndBoundsAgree) {
  // Every value must fall in the bucket whose upper bound is at least the value and whose
  // predecessor's upper bound is below it.
  const std::uint64_t values[] = {0,   1,   255,  256,       257,
                                  511, 512, 1000, 123456789, LatencyHistogram::kMaxValue};
  for (std::uint64_t v : values) {
    const auto index = LatencyHistogram::IndexOf(v);
    ASSERT_LT(index, LatencyHistogram::kBucketCount) << v;
    EXPECT_GE(LatencyHistogram::HighestInBucket(index), v);
    if (index > 0) {
      EXPECT_LT(LatencyHistogram::HighestInBucket(index - 1), v);
    }
  }
}

TEST(LatencyHistogram, PercentilesWithinRelativeError) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> latency_ns(14.0, 1.0);  // median about 1.2 ms
  std::vector<std::uint64_t> values;
  LatencyHistogram a, b;
  for (int i = 0; i < 100000; ++i) {
    const auto v = static_cast<std::uint64_t>(latency_ns(rng));
    values.push_back(v);
    (i % 2 ? a : b).Record(v);
  }
  a.Merge(b);
  ASSERT_EQ(a.count(), values.size());
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    const double exact = double(ExactNearestRank(values, p));
    const double reported = double(a.Percentile(p));
    EXPECT_GE(reported, exact) << p;
    EXPECT_LE(reported, exact * (1.0 + 1.0 / LatencyHistogram::kSubBuckets)) << p;
  }
  EXPECT_EQ(a.max_ns(), *std::max_element(values.begin(), values.end()));
  EXPECT_EQ(a.Percentile(100), a.max_ns());
}

TEST(LatencyHistogram, SingleOutlierOnlyMovesTheTop) {
  LatencyHistogram h;
  for (int i = 0; i < 999; ++i) h.Record(1000);
  h.Record(5'000'000'000);
  EXPECT_LE(h.Percentile(99), 1000u + 1000u / LatencyHistogram::kSubBuckets);
  EXPECT_EQ(h.Percentile(100), 5'000'000'000u);
}

}  // namespace
}  // namespace bookd::bench
