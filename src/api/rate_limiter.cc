#include "api/rate_limiter.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <functional>

namespace bookd::api {
namespace {

// Each shard drops its full buckets this often, and whenever it is full.
constexpr auto kSweepInterval = std::chrono::seconds(10);

}  // namespace

RateLimiter::RateLimiter(double rate_per_s, double burst, std::size_t keys_max)
    : rate_per_s_(rate_per_s > 0 ? rate_per_s : 0),
      burst_(std::max(burst, 1.0)),
      shard_buckets_max_(std::max<std::size_t>(keys_max / kShards, 1)) {}

double RateLimiter::Refilled(const Bucket& b, Clock::time_point now) const {
  const double elapsed_s = std::chrono::duration<double>(now - b.updated).count();
  if (elapsed_s <= 0) return b.tokens;  // a clock read on another thread may be older
  return std::min(burst_, b.tokens + elapsed_s * rate_per_s_);
}

void RateLimiter::Sweep(Shard& shard, Clock::time_point now) {
  shard.last_sweep = now;
  std::erase_if(shard.buckets,
                [&](const auto& entry) { return Refilled(entry.second, now) >= burst_; });
}

void RateLimiter::EvictOldest(Shard& shard) {
  auto oldest = std::min_element(
      shard.buckets.begin(), shard.buckets.end(),
      [](const auto& a, const auto& b) { return a.second.updated < b.second.updated; });
  if (oldest != shard.buckets.end()) shard.buckets.erase(oldest);
}

RateLimiter::Decision RateLimiter::Take(std::string_view key_id, Clock::time_point now) {
  if (!enabled()) return {true, 0};
  Shard& shard = shards_[std::hash<std::string_view>{}(key_id) % kShards];
  std::lock_guard lock(shard.mu);

  if (now - shard.last_sweep >= kSweepInterval) Sweep(shard, now);
  auto it = shard.buckets.find(std::string(key_id));
  if (it == shard.buckets.end()) {
    if (shard.buckets.size() >= shard_buckets_max_) Sweep(shard, now);
    if (shard.buckets.size() >= shard_buckets_max_) EvictOldest(shard);
    it = shard.buckets.emplace(std::string(key_id), Bucket{burst_, now}).first;
  }

  Bucket& b = it->second;
  b.tokens = Refilled(b, now);
  b.updated = std::max(b.updated, now);
  assert(b.tokens >= 0 && b.tokens <= burst_);
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return {true, 0};
  }
  const double wait_s = (1 - b.tokens) / rate_per_s_;
  return {false, std::max(1, static_cast<int>(std::ceil(wait_s)))};
}

std::size_t RateLimiter::buckets() const {
  std::size_t n = 0;
  for (const Shard& s : shards_) {
    std::lock_guard lock(s.mu);
    n += s.buckets.size();
  }
  return n;
}

}  // namespace bookd::api
