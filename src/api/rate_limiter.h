// Per-key request rate limit: one token bucket per API key id, in this
// process only (with --workers N each worker has its own buckets, so a key
// may get up to N times the rate across the cluster).
//
// A bucket holds at most `burst` tokens and gains `rate_per_s` tokens per
// second; a request takes one token or is refused with the time until one is
// there. Invariants:
//   1. 0 <= tokens <= burst for every bucket, after every Take.
//   2. A bucket that would be full now is indistinguishable from no bucket,
//      so dropping it changes no decision; Sweep drops exactly those.
//   3. Each shard holds at most keys_max / kShards buckets: when a shard is
//      full even after a sweep, its least recently used bucket goes (that key
//      then starts again from a full bucket: memory is bounded, the rate for
//      that one key only approximately so).
// Buckets are split over kShards mutex-guarded shards by key, so requests of
// different keys rarely contend.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace bookd::api {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  struct Decision {
    bool allowed;
    int retry_after_s;  // when refused: whole seconds until a token, at least 1
  };

  // rate_per_s <= 0 turns the limiter off (every Take is allowed); burst is
  // clamped to at least 1.
  RateLimiter(double rate_per_s, double burst, std::size_t keys_max = 100000);

  bool enabled() const { return rate_per_s_ > 0; }

  Decision Take(std::string_view key_id, Clock::time_point now);

  // Buckets currently held, over all shards.
  std::size_t buckets() const;

 private:
  static constexpr std::size_t kShards = 16;

  struct Bucket {
    double tokens;
    Clock::time_point updated;
  };

  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Bucket> buckets;  // GUARDED_BY(mu)
    Clock::time_point last_sweep{};                   // GUARDED_BY(mu)
  };

  double Refilled(const Bucket& b, Clock::time_point now) const;
  // REQUIRES: shard.mu held. Drops the buckets that are full by now.
  void Sweep(Shard& shard, Clock::time_point now);
  // REQUIRES: shard.mu held. Drops the least recently used bucket.
  static void EvictOldest(Shard& shard);

  const double rate_per_s_;
  const double burst_;
  const std::size_t shard_buckets_max_;
  std::array<Shard, kShards> shards_;
};

}  // namespace bookd::api
