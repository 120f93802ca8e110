// Entries are indexed by start instant. A usage overlaps [s, e) only if it
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

Ledger::Ledger(Ledger&& other) noexcept { *this = std::move(other); }

Ledger& Ledger::operator=(Ledger&& other) noexcept {
  if (this == &other) return *this;
  entries_ = std::move(other.entries_);
  free_ = std::move(other.free_);
  by_start_ = std::move(other.by_start_);
  by_booking_ = std::move(other.by_booking_);
  longest_ = other.longest_;
  ++version_;
  other.entries_.clear();
  other.free_.clear();
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
    const Usage& u = entries_[it->second].usage;
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

Ledger::Slot Ledger::NewSlot(const std::string& booking_id, const Usage& u) {
  if (!free_.empty()) {
    const Slot slot = free_.back();
    free_.pop_back();
    entries_[slot] = Entry{booking_id, u};
    return slot;
  }
  Require(entries_.size() < std::numeric_limits<Slot>::max(), "too many usages on one resource");
  entries_.push_back(Entry{booking_id, u});
  return static_cast<Slot>(entries_.size() - 1);
}

void Ledger::FreeSlot(Slot slot) {
  entries_[slot].booking_id.clear();
  free_.push_back(slot);
}

void Ledger::DropSlot(Slot slot) {
  auto [first, last] = by_start_.equal_range(entries_[slot].usage.start);
  for (auto i = first; i != last; ++i) {
    if (i->second == slot) {
      by_start_.erase(i);
      break;
    }
  }
  FreeSlot(slot);
}

void Ledger::Add(const std::string& booking_id, const Usage& u) {
  Require(u.start < u.end, "usage with start >= end");
  Require(u.quantity > 0, "usage with quantity <= 0");
  const Slot slot = NewSlot(booking_id, u);
  by_start_.emplace(u.start, slot);
  auto [first, inserted] = by_booking_.try_emplace(booking_id, slot);
  if (!inserted) {
    entries_[slot].next = first->second;
    first->second = slot;
  }
  longest_ = std::max(longest_, u.end - u.start);
  ++version_;
}

void Ledger::Remove(const std::string& booking_id) {
  ++version_;
  auto first = by_booking_.find(booking_id);
  if (first == by_booking_.end()) return;
  for (Slot slot = first->second; slot != kNoSlot;) {
    const Slot next = entries_[slot].next;
    DropSlot(slot);
    slot = next;
  }
  by_booking_.erase(first);
}

void Ledger::SetExpiry(const std::string& booking_id, Instant expires_at) {
  ++version_;
  auto first = by_booking_.find(booking_id);
  if (first == by_booking_.end()) return;
  for (Slot slot = first->second; slot != kNoSlot; slot = entries_[slot].next) {
    entries_[slot].usage.expires_at = expires_at;
  }
}

void Ledger::Prune(Instant before, Instant now) {
  Instant longest = 0;
  for (auto it = by_start_.begin(); it != by_start_.end();) {
    const Slot slot = it->second;
    Entry& e = entries_[slot];
    if (e.usage.end > before && e.usage.expires_at > now) {
      longest = std::max(longest, e.usage.end - e.usage.start);
      ++it;
      continue;
    }
    // Unlink the slot from its booking's list.
    auto first = by_booking_.find(e.booking_id);
    if (first->second == slot) {
      if (e.next == kNoSlot) {
        by_booking_.erase(first);
      } else {
        first->second = e.next;
      }
    } else {
      Slot prev = first->second;
      while (entries_[prev].next != slot) prev = entries_[prev].next;
      entries_[prev].next = e.next;
    }
    it = by_start_.erase(it);
    FreeSlot(slot);
  }
  if (by_start_.empty()) {  // give the slots' memory back
    entries_.clear();
    entries_.shrink_to_fit();
    free_.clear();
    free_.shrink_to_fit();
  }
  longest_ = longest;
  ++version_;
}

std::vector<Usage> Ledger::Overlapping(Interval span, Instant now) const {
  std::vector<Usage> out;
  if (span.start >= span.end) return out;
  auto it = by_start_.upper_bound(SaturatingSub(span.start, longest_));
  for (; it != by_start_.end() && it->first < span.end; ++it) {
    const Usage& u = entries_[it->second].usage;
    if (u.end > span.start && u.expires_at > now) out.push_back(u);
  }
  return out;
}

}  // namespace bookd::domain
