// Entries are kept by start instant. A usage overlaps [s, e) only if it
// starts before e and ends after s; since no entry is longer than longest_,
// every overlapping entry starts after s - longest_. PeakUsage therefore
// visits only the entries starting in (s - longest_, e), in start order, and
// sweeps them with a min-heap of end instants: O(k log k) for k visited.
// longest_ only grows between Prune calls, which recompute it.
#include "domain/ledger.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <utility>

namespace bookd::domain {
namespace {

// Checked in release builds too: a malformed usage would corrupt every
// later capacity decision on this resource.
void Require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "ledger invariant violated: %s\n", what);
    std::abort();
  }
}

Instant SaturatingSub(Instant a, Instant b) {
  if (b > 0 && a < std::numeric_limits<Instant>::min() + b) {
    return std::numeric_limits<Instant>::min();
  }
  return a - b;
}

using EndHeap = std::vector<std::pair<Instant, std::int64_t>>;  // (end, quantity)

// Scratch space per thread; trimmed when one large call inflated it.
constexpr std::size_t kScratchKeepMax = 1 << 16;

}  // namespace

Ledger::Ledger(const Ledger& other) { *this = other; }

Ledger& Ledger::operator=(const Ledger& other) {
  if (this == &other) return *this;
  by_start_.clear();
  by_booking_.clear();
  for (const auto& [start, entry] : other.by_start_) {
    auto it = by_start_.emplace_hint(by_start_.end(), start, entry);
    by_booking_.emplace(entry.booking_id, it);
  }
  longest_ = other.longest_;
  ++version_;
  return *this;
}

Ledger::Ledger(Ledger&& other) noexcept { *this = std::move(other); }

Ledger& Ledger::operator=(Ledger&& other) noexcept {
  if (this == &other) return *this;
  // Node-based containers keep their nodes, so by_booking_'s iterators stay valid.
  by_start_ = std::move(other.by_start_);
  by_booking_ = std::move(other.by_booking_);
  longest_ = other.longest_;
  ++version_;
  other.by_start_.clear();
  other.by_booking_.clear();
  other.longest_ = 0;
  ++other.version_;
  return *this;
}

std::int64_t Ledger::PeakUsage(Interval span, Instant now) const {
  // `now` before `from` means the clock went back: a hold the memo saw
  // expire would count again, so the memo does not answer.
  if (memo_.version == version_ && memo_.span == span && memo_.from <= now && now < memo_.until) {
    return memo_.peak;
  }
  Instant until = kForever;
  const std::int64_t peak = SweepPeak(span, now, &until);
  memo_ = PeakMemo{version_, span, now, until, peak};
  return peak;
}

std::int64_t Ledger::SweepPeak(Interval span, Instant now, Instant* until) const {
  *until = kForever;
  if (span.start >= span.end || by_start_.empty()) return 0;

  thread_local EndHeap ends;
  ends.clear();
  const auto later_end = [](const auto& a, const auto& b) { return a.first > b.first; };
  std::int64_t in_use = 0;
  std::int64_t peak = 0;
  auto it = by_start_.upper_bound(SaturatingSub(span.start, longest_));
  for (; it != by_start_.end() && it->first < span.end; ++it) {
    const Usage& u = it->second.usage;
    if (u.end <= span.start || u.expires_at <= now) continue;
    Instant start = std::max(u.start, span.start);
    // Half-open: a usage ending exactly at `start` no longer counts.
    while (!ends.empty() && ends.front().first <= start) {
      in_use -= ends.front().second;
      std::pop_heap(ends.begin(), ends.end(), later_end);
      ends.pop_back();
    }
    in_use += u.quantity;
    peak = std::max(peak, in_use);
    *until = std::min(*until, u.expires_at);
    ends.emplace_back(u.end, u.quantity);
    std::push_heap(ends.begin(), ends.end(), later_end);
  }
  if (ends.capacity() > kScratchKeepMax) EndHeap().swap(ends);
  return peak;
}

void Ledger::Add(const std::string& booking_id, const Usage& u) {
  Require(u.start < u.end, "usage with start >= end");
  Require(u.quantity > 0, "usage with quantity <= 0");
  auto it = by_start_.emplace(u.start, Entry{booking_id, u});
  by_booking_.emplace(booking_id, it);
  longest_ = std::max(longest_, u.end - u.start);
  ++version_;
}

void Ledger::Remove(const std::string& booking_id) {
  auto [first, last] = by_booking_.equal_range(booking_id);
  for (auto i = first; i != last; ++i) by_start_.erase(i->second);
  by_booking_.erase(first, last);
  ++version_;
}

void Ledger::SetExpiry(const std::string& booking_id, Instant expires_at) {
  auto [first, last] = by_booking_.equal_range(booking_id);
  for (auto i = first; i != last; ++i) i->second->second.usage.expires_at = expires_at;
  ++version_;
}

void Ledger::Prune(Instant before, Instant now) {
  Instant longest = 0;
  for (auto it = by_start_.begin(); it != by_start_.end();) {
    const Usage& u = it->second.usage;
    if (u.end > before && u.expires_at > now) {
      longest = std::max(longest, u.end - u.start);
      ++it;
      continue;
    }
    auto [first, last] = by_booking_.equal_range(it->second.booking_id);
    for (auto i = first; i != last; ++i) {
      if (i->second == it) {
        by_booking_.erase(i);
        break;
      }
    }
    it = by_start_.erase(it);
  }
  longest_ = longest;
  ++version_;
}

std::vector<Usage> Ledger::Overlapping(Interval span, Instant now) const {
  std::vector<Usage> out;
  if (span.start >= span.end) return out;
  auto it = by_start_.upper_bound(SaturatingSub(span.start, longest_));
  for (; it != by_start_.end() && it->first < span.end; ++it) {
    const Usage& u = it->second.usage;
    if (u.end > span.start && u.expires_at > now) out.push_back(u);
  }
  return out;
}

}  // namespace bookd::domain
