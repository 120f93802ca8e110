// A fixed-size log-linear latency histogram in the manner of HdrHistogram.
//
// Values are nanoseconds. Values below 2 * kSubBuckets are counted exactly; above that each
// power-of-two range [2^k, 2^(k+1)) is split into kSubBuckets equal buckets, so a bucket's
// width is at most 1/kSubBuckets of its lower bound (relative error under 0.8%). Recording
// is a shift, a subtraction and an increment, with no allocation, so each load thread keeps
// its own histogram and they are merged after the run.
//
// Percentile p (0 < p <= 100) is the smallest recorded bucket whose cumulative count reaches
// rank = ceil(p / 100 * count), reported as the highest value that bucket can hold, clamped to
// the exact maximum recorded. That is the nearest-rank definition, rounded up to the bucket.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <cmath>
#include <cstdint>

namespace bookd::bench {

class LatencyHistogram {
 public:
  static constexpr int kSubBucketBits = 7;
  static constexpr std::uint64_t kSubBuckets = 1ull << kSubBucketBits;
  // 2^40 ns is about 18 minutes; anything longer is clamped into the last bucket.
  static constexpr int kMaxValueBits = 40;
  static constexpr std::uint64_t kMaxValue = (1ull << kMaxValueBits) - 1;
  static constexpr std::size_t kBucketCount =
      2 * kSubBuckets + (kMaxValueBits - kSubBucketBits - 1) * kSubBuckets;

  void Record(std::uint64_t value_ns) {
    value_ns = std::min(value_ns, kMaxValue);
    ++counts_[IndexOf(value_ns)];
    ++count_;
    max_ns_ = std::max(max_ns_, value_ns);
    min_ns_ = std::min(min_ns_, value_ns);
  }

  void Merge(const LatencyHistogram& other) {
    for (std::size_t i = 0; i < kBucketCount; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    max_ns_ = std::max(max_ns_, other.max_ns_);
    min_ns_ = std::min(min_ns_, other.min_ns_);
  }

  std::uint64_t count() const { return count_; }
  std::uint64_t max_ns() const { return count_ == 0 ? 0 : max_ns_; }
  std::uint64_t min_ns() const { return count_ == 0 ? 0 : min_ns_; }

  // Returns 0 for an empty histogram.
  std::uint64_t Percentile(double p) const {
    assert(p > 0.0 && p <= 100.0);
    if (count_ == 0) return 0;
    const auto wanted = static_cast<std::uint64_t>(std::ceil(p / 100.0 * double(count_)));
    const std::uint64_t rank = std::clamp<std::uint64_t>(wanted, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBucketCount; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(HighestInBucket(i), max_ns_);
    }
    return max_ns_;
  }

  static std::size_t IndexOf(std::uint64_t v) {
    if (v < 2 * kSubBuckets) return static_cast<std::size_t>(v);
    const int shift = std::bit_width(v) - 1 - kSubBucketBits;  // >= 1 here
    const std::uint64_t mantissa = v >> shift;                 // in [kSubBuckets, 2*kSubBuckets)
    return static_cast<std::size_t>(2 * kSubBuckets + (shift - 1) * kSubBuckets +
                                    (mantissa - kSubBuckets));
  }

  static std::uint64_t HighestInBucket(std::size_t index) {
    if (index < 2 * kSubBuckets) return index;
    const std::uint64_t shift = (index - 2 * kSubBuckets) / kSubBuckets + 1;
    const std::uint64_t mantissa = (index - 2 * kSubBuckets) % kSubBuckets + kSubBuckets;
    return ((mantissa + 1) << shift) - 1;
  }

 private:
  std::array<std::uint64_t, kBucketCount> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ns_ = 0;
  std::uint64_t min_ns_ = ~0ull;
};

}  // namespace bookd::bench
