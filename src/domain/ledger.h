// The capacity ledger of one resource: the items that may count against its
// capacity, indexed so that "how many units are in use during [s, e) at time
// now" is cheap. The storage writer keeps one per hot resource in memory and
// decides every booking against it inside the write transaction; reads build
// a throw-away one from the usages they load.
//
// Invariant (the contract's): for every instant t in the resource's life,
//   sum(quantity of entries counting at now whose [start,end) contains t)
//   <= capacity.
// Fits() (or CheckItems, which uses PeakUsage) is the only gate. The ledger
// does not know the capacity, so Add() cannot re-check the invariant; it
// checks in release builds too that each usage is well formed.
//
// Entries live in a slot vector and are indexed by start instant in a B-tree
// (Abseil's btree_multimap) of (start, slot) pairs: a writer keeps a ledger
// per resource, thousands of entries each, and deciding a booking descends
// one. A red-black tree of the same entries is a dozen dependent cache misses
// deep; a B-tree with 16-byte elements is three or four nodes.
//
// A ledger belongs to one thread, even when const: PeakUsage remembers its
// last answer. In a flash sale thousands of requests ask a sold-out resource
// about the same span; from the second on, the answer costs a comparison
// instead of a sweep over every booking of the sale.
#pragma once

#include <absl/container/btree_map.h>
#include <absl/container/flat_hash_map.h>

#include <cstdint>
#include <string>
#include <vector>

#include "domain/model.h"

namespace bookd::domain {

class Ledger {
 public:
  Ledger() = default;
  Ledger(const Ledger& other) = default;
  Ledger& operator=(const Ledger& other) = default;
  // Moves leave the source empty, its memo forgotten.
  Ledger(Ledger&& other) noexcept;
  Ledger& operator=(Ledger&& other) noexcept;

  // True when `quantity` more units fit under `capacity` throughout `span`.
  bool Fits(Interval span, std::int64_t quantity, std::int64_t capacity, Instant now) const {
    return PeakUsage(span, now) + quantity <= capacity;
  }

  // The highest number of units in use at any instant of `span`, counting
  // only usages that count at `now` (expires_at > now).
  std::int64_t PeakUsage(Interval span, Instant now) const;
  // The sweep behind PeakUsage, without the memo; `until` receives the first
  // instant after `now` at which a usage it counted stops counting.
  std::int64_t SweepPeak(Interval span, Instant now, Instant* until) const;

  // Adds the items of booking `booking_id` on this resource.
  void Add(const std::string& booking_id, const Usage& u);

  // Removes every usage of `booking_id` (cancel, patch, expiry clean-up).
  void Remove(const std::string& booking_id);

  // Changes expires_at of every usage of `booking_id` (confirm: kForever).
  void SetExpiry(const std::string& booking_id, Instant expires_at);

  // Drops entries that ended before `before` or expired before `now`; keeps
  // memory bounded on long-lived processes.
  void Prune(Instant before, Instant now);

  // All usages counting at `now` that overlap `span` (for availability).
  std::vector<Usage> Overlapping(Interval span, Instant now) const;

  std::size_t size() const { return by_start_.size(); }

 private:
  using Slot = std::uint32_t;  // an index into entries_
  static constexpr Slot kNoSlot = ~Slot{0};
  struct Entry {
    std::string booking_id;
    Usage usage;
    Slot next = kNoSlot;  // the same booking's next slot on this ledger
  };

  Slot NewSlot(const std::string& booking_id, const Usage& u);
  // Puts `slot` on the free list; both indexes are the caller's.
  void FreeSlot(Slot slot);
  // Erases `slot` from by_start_ and frees it; by_booking_ is the caller's.
  void DropSlot(Slot slot);

  std::vector<Entry> entries_;  // the slots; a freed one waits in free_
  std::vector<Slot> free_;
  absl::btree_multimap<Instant, Slot> by_start_;
  // A booking's first slot; the rest follow Entry::next. An open-addressing
  // table: one probe where a node-based multimap walks a bucket's chain.
  absl::flat_hash_map<std::string, Slot> by_booking_;
  Instant longest_ = 0;  // the longest usage ever added; bounds the scan left of span.start

  // PeakUsage's last answer: `peak` for `span` at every `now` in
  // [from, until), as long as the ledger is still at `version`.
  struct PeakMemo {
    std::uint64_t version = 0;  // 0: empty (version_ starts at 1)
    Interval span;
    Instant from = 0;
    Instant until = 0;
    std::int64_t peak = 0;
  };
  std::uint64_t version_ = 1;  // bumped by every change of the entries
  mutable PeakMemo memo_;
};

}  // namespace bookd::domain
