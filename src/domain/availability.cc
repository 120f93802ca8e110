// Every question here is answered from one step function: the units in use
// over time (from the usages that count at `now`), intersected with the open
// intervals of the resource. Building it costs O(u log u) for u usages and
// O(d) for d days of opening hours; Availability then reads it once, and
// Slots walks it with one forward-moving pointer, jumping straight to the
// next aligned start, so no slot rescans the usages.
//
// CheckItems reports, for an item that reaches into closed time, the
// smallest free capacity over the item's open part (0 when none of it is
// open): that is the figure a client can act on by moving the item inside
// the opening hours.
#include "domain/availability.h"

#include <algorithm>
#include <cassert>
#include <string>
#include <utility>

#include "domain/schedule.h"
#include "domain/time.h"

namespace bookd::domain {
namespace {

// `used` units are in use from `at` until the next step's `at`.
struct Step {
  Instant at = 0;
  std::int64_t used = 0;
};

// The step function of units in use inside `range` by the usages counting at
// `now`. Before the first step and after the last nothing is in use.
std::vector<Step> UsageSteps(const std::vector<Usage>& usages, Interval range, Instant now) {
  std::vector<std::pair<Instant, std::int64_t>> events;
  events.reserve(usages.size() * 2);
  for (const Usage& u : usages) {
    if (u.expires_at <= now || u.end <= range.start || u.start >= range.end || u.quantity <= 0) {
      continue;
    }
    events.emplace_back(std::max(u.start, range.start), u.quantity);
    events.emplace_back(std::min(u.end, range.end), -u.quantity);
  }
  std::sort(events.begin(), events.end());

  std::vector<Step> steps;
  std::int64_t used = 0;
  for (std::size_t i = 0; i < events.size();) {
    Instant at = events[i].first;
    for (; i < events.size() && events[i].first == at; ++i) used += events[i].second;
    if (!steps.empty() && steps.back().used == used) continue;
    steps.push_back({at, used});
  }
  return steps;
}

// Pieces of the open intervals with constant free capacity (which may be
// zero or negative), in time order; adjacent pieces with equal free capacity
// are merged.
std::vector<FreeInterval> FreePieces(std::int64_t capacity, const std::vector<Step>& steps,
                                     const std::vector<Interval>& open) {
  std::vector<FreeInterval> pieces;
  std::size_t k = 0;  // first step with at > the current instant
  for (const Interval& o : open) {
    Instant at = o.start;
    while (at < o.end) {
      while (k < steps.size() && steps[k].at <= at) ++k;
      std::int64_t used = k == 0 ? 0 : steps[k - 1].used;
      Instant next = k < steps.size() ? std::min(steps[k].at, o.end) : o.end;
      std::int64_t free = capacity - used;
      if (!pieces.empty() && pieces.back().span.end == at && pieces.back().available == free) {
        pieces.back().span.end = next;
      } else {
        pieces.push_back({{at, next}, free});
      }
      at = next;
    }
  }
  return pieces;
}

// The maximal open intervals with at least `quantity` free units.
std::vector<Interval> GoodIntervals(const Resource& r, const std::vector<Usage>& usages,
                                    Interval range, std::int64_t quantity, Instant now) {
  std::vector<Interval> good;
  for (const FreeInterval& piece :
       FreePieces(r.capacity, UsageSteps(usages, range, now), OpenIntervals(r, range))) {
    if (piece.available < quantity) continue;
    if (!good.empty() && good.back().end == piece.span.start) {
      good.back().end = piece.span.end;
    } else {
      good.push_back(piece.span);
    }
  }
  return good;
}

std::int64_t Peak(const std::vector<Step>& steps) {
  std::int64_t peak = 0;
  for (const Step& s : steps) peak = std::max(peak, s.used);
  return peak;
}

}  // namespace

Status CheckItemCount(const std::vector<Item>& items) {
  if (items.empty()) return Error::Validation("/items", "a booking needs at least one item");
  if (items.size() > kBookingItemsMax) {
    return Error::Validation(
        "/items", "a booking has at most " + std::to_string(kBookingItemsMax) + " items");
  }
  return Ok{};
}

Status ResolveItems(const std::vector<Item>& items, const FindResourceFn& find,
                    std::vector<const Resource*>& resources) {
  if (auto s = CheckItemCount(items); !s) return s;
  const std::size_t n = items.size();
  resources.assign(n, nullptr);
  for (std::size_t i = 0; i < n; ++i) {
    const Item& it = items[i];
    const std::string at = "/items/" + std::to_string(i);
    if (it.start >= it.end) return Error::Validation(at + "/end", "must be after start");
    Result<const Resource*> r = find(it.resource_id);
    if (!r) return std::move(r).error();
    if (*r == nullptr) {
      return Error::Validation(at + "/resource_id", "no resource with id '" + it.resource_id + "'");
    }
    if (it.quantity < 1) return Error::Validation(at + "/quantity", "must be at least 1");
    if (it.quantity > (*r)->capacity) {
      return Error::Validation(
          at + "/quantity", "exceeds the resource's capacity of " + std::to_string((*r)->capacity));
    }
    resources[i] = *r;
  }
  return Ok{};
}

Status CheckItems(const std::vector<const Resource*>& resources,
                  const std::vector<const Ledger*>& ledgers, const std::vector<Item>& items,
                  Instant now) {
  assert(resources.size() == items.size() && ledgers.size() == items.size());

  std::vector<ItemConflict> conflicts;
  std::vector<Usage> usages;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const Item& item = items[i];
    const Resource& r = *resources[i];
    const Ledger& ledger = *ledgers[i];
    const Interval span{item.start, item.end};
    assert(span.start < span.end && item.quantity > 0);

    // This booking's earlier items on the same resource count as if booked.
    usages.clear();
    for (std::size_t j = 0; j < i; ++j) {
      const Item& other = items[j];
      if (other.resource_id == item.resource_id && other.start < span.end &&
          other.end > span.start) {
        usages.push_back({other.start, other.end, other.quantity, kForever});
      }
    }
    auto peak_over = [&](Interval part) {
      if (usages.empty()) return ledger.PeakUsage(part, now);
      std::vector<Usage> all = ledger.Overlapping(part, now);
      all.insert(all.end(), usages.begin(), usages.end());
      return Peak(UsageSteps(all, part, now));
    };

    std::vector<Interval> open = OpenIntervals(r, span);
    if (open.size() != 1 || open.front() != span) {
      std::int64_t available = open.empty() ? 0 : r.capacity;
      for (const Interval& part : open)
        available = std::min(available, r.capacity - peak_over(part));
      conflicts.push_back(
          {static_cast<int>(i), item.resource_id, "closed", std::max<std::int64_t>(available, 0)});
      continue;
    }
    std::int64_t peak = peak_over(span);
    if (peak + item.quantity > r.capacity) {
      conflicts.push_back({static_cast<int>(i), item.resource_id, "capacity",
                           std::max<std::int64_t>(r.capacity - peak, 0)});
    }
  }

  if (conflicts.empty()) return Ok{};
  Error e =
      MakeError(Errc::kUnavailable, conflicts.size() == 1
                                        ? "one item cannot get its units; nothing was booked"
                                        : std::to_string(conflicts.size()) +
                                              " items cannot get their units; nothing was booked");
  e.conflicts = std::move(conflicts);
  return e;
}

std::vector<FreeInterval> Availability(const Resource& r, const std::vector<Usage>& usages,
                                       Interval range, Instant now) {
  std::vector<FreeInterval> out;
  for (FreeInterval& piece :
       FreePieces(r.capacity, UsageSteps(usages, range, now), OpenIntervals(r, range))) {
    if (piece.available >= 1) out.push_back(piece);
  }
  return out;
}

SlotAnswer Slots(const Resource& r, const std::vector<Usage>& usages, const SlotQuery& q,
                 Instant now) {
  assert(q.duration_s > 0 && q.step_s > 0 && q.limit >= 0 && q.quantity >= 1);
  SlotAnswer answer;
  if (q.range.start >= q.range.end || q.duration_s <= 0 || q.step_s <= 0) return answer;

  const std::vector<Interval> good = GoodIntervals(r, usages, q.range, q.quantity, now);
  if (good.empty()) return answer;

  ZoneDays days(LocateZone(r.timezone) != nullptr ? LocateZone(r.timezone) : LocateZone("UTC"));
  std::size_t p = 0;
  std::int64_t day = days.DayOf(good[0].start);
  while (p < good.size()) {
    const Instant midnight = days.DayStart(day);
    const Instant next_midnight = days.DayStart(day + 1);
    // The first start of this day that is a whole number of steps after
    // midnight and not before `at`.
    auto aligned = [&](Instant at) {
      if (at <= midnight) return midnight;
      return midnight + (at - midnight + q.step_s - 1) / q.step_s * q.step_s;
    };

    Instant s = aligned(good[p].start);
    while (s < next_midnight) {
      if (s + q.duration_s > good[p].end) {
        if (++p == good.size()) break;
        s = aligned(std::max(s, good[p].start));
      } else if (s < good[p].start) {
        s = aligned(good[p].start);
      } else {
        if (static_cast<std::int64_t>(answer.slots.size()) >= q.limit) {
          answer.truncated = true;
          return answer;
        }
        answer.slots.push_back({s, s + q.duration_s});
        s += q.step_s;
      }
    }
    if (p == good.size()) break;
    day = std::max(day + 1, days.DayOf(good[p].start));
  }
  return answer;
}

}  // namespace bookd::domain
