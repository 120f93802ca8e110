// Goal: the booking decision is all-or-nothing with the right conflicts, and
// availability intervals and slots are exactly what a minute-by-minute model
// of open time and free units gives, also on DST days. Method: hand cases,
// then a few hundred random resources with fixed seeds against the model.
#include "domain/availability.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "domain/schedule.h"
#include "domain/time.h"

namespace bookd::domain {
namespace {

Instant T(const char* text) {
  Result<Instant> r = ParseInstant(text);
  EXPECT_TRUE(r.ok()) << text;
  return r.ok() ? *r : 0;
}

Resource Room(const char* id, std::int64_t capacity, const char* tz = "UTC") {
  Resource r;
  r.id = id;
  r.capacity = capacity;
  r.timezone = tz;
  return r;
}

Item I(const char* resource, const char* start, const char* end, std::int64_t quantity) {
  return Item{resource, T(start), T(end), quantity};
}

// ---- ResolveItems ------------------------------------------------------------

// The pointer of the one field error in `s`, or "" when `s` is no such error.
std::string Pointer(const Status& s) {
  if (s.ok() || s.error().code != Errc::kValidation || s.error().errors.size() != 1) return "";
  return s.error().errors[0].pointer;
}

TEST(ResolveItems, RefusesTheFirstBadFieldInReadingOrder) {
  Resource a = Room("a", 2);
  std::vector<std::string> asked;
  const FindResourceFn find = [&](const std::string& id) -> Result<const Resource*> {
    asked.push_back(id);
    return id == "a" ? &a : nullptr;
  };
  std::vector<const Resource*> resources;
  const Item ok = I("a", "2027-03-01T10:00:00Z", "2027-03-01T11:00:00Z", 2);

  EXPECT_EQ(Pointer(ResolveItems({}, find, resources)), "/items");
  EXPECT_EQ(Pointer(ResolveItems(std::vector<Item>(kBookingItemsMax + 1, ok), find, resources)),
            "/items");
  EXPECT_TRUE(asked.empty()) << "the count is checked before any lookup";

  Item backwards = ok;
  backwards.end = backwards.start;
  Item ghost = ok;
  ghost.resource_id = "ghost";
  Item none = ok;
  none.quantity = 0;
  Item too_many = ok;
  too_many.quantity = 3;
  EXPECT_EQ(Pointer(ResolveItems({ok, backwards, ghost}, find, resources)), "/items/1/end");
  EXPECT_EQ(asked, (std::vector<std::string>{"a"})) << "a bad interval needs no lookup";
  EXPECT_EQ(Pointer(ResolveItems({ok, ghost, backwards}, find, resources)), "/items/1/resource_id");
  EXPECT_EQ(Pointer(ResolveItems({none}, find, resources)), "/items/0/quantity");
  const Status over = ResolveItems({ok, too_many}, find, resources);
  EXPECT_EQ(Pointer(over), "/items/1/quantity");
  EXPECT_NE(over.error().errors[0].detail.find("capacity of 2"), std::string::npos);

  asked.clear();
  ASSERT_TRUE(ResolveItems({ok, ok}, find, resources).ok());
  EXPECT_EQ(asked, (std::vector<std::string>{"a", "a"})) << "once per item, in order";
  EXPECT_EQ(resources, (std::vector<const Resource*>{&a, &a}));
}

TEST(ResolveItems, AFailedLookupIsReturnedAsItIs) {
  const FindResourceFn broken = [](const std::string&) -> Result<const Resource*> {
    return MakeError(Errc::kInternal, "storage: disk on fire");
  };
  std::vector<const Resource*> resources;
  const Status s =
      ResolveItems({I("a", "2027-03-01T10:00:00Z", "2027-03-01T11:00:00Z", 1)}, broken, resources);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::kInternal);
  EXPECT_EQ(s.error().detail, "storage: disk on fire");
}

// ---- CheckItems --------------------------------------------------------------

TEST(CheckItems, AllOrNothingNamesTheFailingItem) {
  Resource a = Room("a", 2), b = Room("b", 1);
  Ledger la, lb;
  la.Add("x", {T("2027-03-01T10:00:00Z"), T("2027-03-01T11:00:00Z"), 2, kForever});

  std::vector<Item> items = {I("b", "2027-03-01T10:00:00Z", "2027-03-01T11:00:00Z", 1),
                             I("a", "2027-03-01T10:30:00Z", "2027-03-01T11:30:00Z", 1)};
  Status s = CheckItems({&b, &a}, {&lb, &la}, items, 0);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::kUnavailable);
  ASSERT_EQ(s.error().conflicts.size(), 1u);
  EXPECT_EQ(s.error().conflicts[0].item, 1);
  EXPECT_EQ(s.error().conflicts[0].resource_id, "a");
  EXPECT_EQ(s.error().conflicts[0].reason, "capacity");
  EXPECT_EQ(s.error().conflicts[0].available, 0);

  // Touching the existing usage fits; so does the same span once x expired.
  items[1] = I("a", "2027-03-01T11:00:00Z", "2027-03-01T12:00:00Z", 2);
  EXPECT_TRUE(CheckItems({&b, &a}, {&lb, &la}, items, 0).ok());
  la.SetExpiry("x", 100);
  items[1] = I("a", "2027-03-01T10:30:00Z", "2027-03-01T11:30:00Z", 2);
  EXPECT_FALSE(CheckItems({&b, &a}, {&lb, &la}, items, 99).ok());
  EXPECT_TRUE(CheckItems({&b, &a}, {&lb, &la}, items, 100).ok());
}

TEST(CheckItems, AvailableIsTheSmallestFreeCapacity) {
  Resource a = Room("a", 5);
  Ledger la;
  la.Add("x", {T("2027-03-01T10:00:00Z"), T("2027-03-01T11:00:00Z"), 2, kForever});
  la.Add("y", {T("2027-03-01T10:30:00Z"), T("2027-03-01T12:00:00Z"), 1, kForever});
  Status s =
      CheckItems({&a}, {&la}, {I("a", "2027-03-01T09:00:00Z", "2027-03-01T13:00:00Z", 3)}, 0);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().conflicts.at(0).available, 2);
}

TEST(CheckItems, ItemsOfOneBookingOnOneResourceAddUp) {
  Resource a = Room("a", 3);
  Ledger la;
  std::vector<Item> items = {I("a", "2027-03-01T10:00:00Z", "2027-03-01T11:00:00Z", 2),
                             I("a", "2027-03-01T10:30:00Z", "2027-03-01T12:00:00Z", 2)};
  Status s = CheckItems({&a, &a}, {&la, &la}, items, 0);
  ASSERT_FALSE(s.ok());
  ASSERT_EQ(s.error().conflicts.size(), 1u);
  EXPECT_EQ(s.error().conflicts[0].item, 1);
  EXPECT_EQ(s.error().conflicts[0].available, 1);

  // Back to back they do not overlap.
  items[1] = I("a", "2027-03-01T11:00:00Z", "2027-03-01T12:00:00Z", 3);
  EXPECT_TRUE(CheckItems({&a, &a}, {&la, &la}, items, 0).ok());

  // Earlier items plus the ledger: 1 booked + 1 + 1 + 1 > 3 only for the third.
  la.Add("x", {T("2027-03-01T10:00:00Z"), T("2027-03-01T11:00:00Z"), 1, kForever});
  items = {I("a", "2027-03-01T10:00:00Z", "2027-03-01T10:30:00Z", 1),
           I("a", "2027-03-01T10:15:00Z", "2027-03-01T10:45:00Z", 1),
           I("a", "2027-03-01T10:20:00Z", "2027-03-01T10:25:00Z", 1)};
  s = CheckItems({&a, &a, &a}, {&la, &la, &la}, items, 0);
  ASSERT_FALSE(s.ok());
  ASSERT_EQ(s.error().conflicts.size(), 1u);
  EXPECT_EQ(s.error().conflicts[0].item, 2);
  EXPECT_EQ(s.error().conflicts[0].available, 0);
}

TEST(CheckItems, ClosedWhenOutsideHoursOrInAClosure) {
  Resource a = Room("a", 4);
  WeeklyHours h;
  for (auto& d : h.days) d = {{9 * 60, 17 * 60}};
  a.hours = h;
  a.closures = {{T("2027-03-02T12:00:00Z"), T("2027-03-02T13:00:00Z")}};
  Ledger la;
  la.Add("x", {T("2027-03-01T16:00:00Z"), T("2027-03-01T20:00:00Z"), 3, kForever});

  std::vector<Item> items = {I("a", "2027-03-01T16:00:00Z", "2027-03-01T18:00:00Z", 1),
                             I("a", "2027-03-01T20:00:00Z", "2027-03-01T21:00:00Z", 1),
                             I("a", "2027-03-02T11:00:00Z", "2027-03-02T12:30:00Z", 1),
                             I("a", "2027-03-03T09:00:00Z", "2027-03-03T17:00:00Z", 4)};
  Status s = CheckItems({&a, &a, &a, &a}, {&la, &la, &la, &la}, items, 0);
  ASSERT_FALSE(s.ok());
  ASSERT_EQ(s.error().conflicts.size(), 3u);
  // Partly closed: the smallest free capacity over the open part.
  EXPECT_EQ(s.error().conflicts[0].item, 0);
  EXPECT_EQ(s.error().conflicts[0].reason, "closed");
  EXPECT_EQ(s.error().conflicts[0].available, 1);
  // Entirely closed.
  EXPECT_EQ(s.error().conflicts[1].item, 1);
  EXPECT_EQ(s.error().conflicts[1].reason, "closed");
  EXPECT_EQ(s.error().conflicts[1].available, 0);
  // Into a closure; closed wins over capacity.
  EXPECT_EQ(s.error().conflicts[2].item, 2);
  EXPECT_EQ(s.error().conflicts[2].reason, "closed");
  EXPECT_EQ(s.error().conflicts[2].available, 4);
}

// ---- Slots on DST days -------------------------------------------------------

TEST(Slots, StepsCountFromLocalMidnightOnDstDays) {
  Resource r = Room("r", 1, "Europe/Berlin");
  SlotQuery q;
  q.duration_s = 900;
  q.step_s = 900;
  q.range = {T("2027-03-28T00:00:00+01:00"), T("2027-03-29T00:00:00+02:00")};
  SlotAnswer a = Slots(r, {}, q, 0);
  ASSERT_EQ(a.slots.size(), 92u);  // a 23-hour day
  EXPECT_FALSE(a.truncated);
  for (std::size_t i = 0; i < a.slots.size(); ++i) {
    EXPECT_EQ(a.slots[i].start, q.range.start + static_cast<Instant>(i) * 900);
  }

  q.range = {T("2027-10-31T00:00:00+02:00"), T("2027-11-01T00:00:00+01:00")};
  EXPECT_EQ(Slots(r, {}, q, 0).slots.size(), 100u);  // a 25-hour day

  // 90-minute steps keep counting elapsed time through the jump: 00:00,
  // 01:30 CET, then 04:00 CEST (three hours after midnight).
  q.range = {T("2027-03-28T00:00:00+01:00"), T("2027-03-30T00:00:00+02:00")};
  q.duration_s = 5400;
  q.step_s = 5400;
  a = Slots(r, {}, q, 0);
  ASSERT_GE(a.slots.size(), 17u);
  EXPECT_EQ(a.slots[0].start, T("2027-03-28T00:00:00+01:00"));
  EXPECT_EQ(a.slots[1].start, T("2027-03-28T01:30:00+01:00"));
  EXPECT_EQ(a.slots[2].start, T("2027-03-28T04:00:00+02:00"));
  // The last start of the 23-hour day is 22.5 h after midnight; the slot
  // crosses into the next day, whose starts count from its own midnight.
  EXPECT_EQ(a.slots[15].start, T("2027-03-28T23:30:00+02:00"));
  EXPECT_EQ(a.slots[16].start, T("2027-03-29T00:00:00+02:00"));
}

TEST(Slots, LimitTruncates) {
  Resource r = Room("r", 1);
  SlotQuery q{{T("2027-03-01T00:00:00Z"), T("2027-03-02T00:00:00Z")}, 3600, 3600, 1, 24};
  SlotAnswer a = Slots(r, {}, q, 0);
  EXPECT_EQ(a.slots.size(), 24u);
  EXPECT_FALSE(a.truncated);
  q.limit = 23;
  a = Slots(r, {}, q, 0);
  EXPECT_EQ(a.slots.size(), 23u);
  EXPECT_TRUE(a.truncated);
}

// ---- Property tests against a minute model -------------------------------

struct Case {
  Resource r;
  std::vector<Usage> usages;
  Interval range;
  Instant now = 0;
};

Case RandomCase(std::mt19937& rng, int round) {
  auto pick = [&](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  const char* zones[] = {"UTC", "Europe/Berlin"};
  const char* centres[] = {"2027-03-28T01:00:00Z", "2027-10-31T01:00:00Z", "2027-06-01T12:00:00Z"};
  Case c;
  c.r = Room("r", pick(1, 4), zones[round % 2]);
  if (pick(0, 4) != 0) {
    WeeklyHours h;
    for (auto& spans : h.days) {
      int at = 0;
      while (true) {
        at += static_cast<int>(pick(0, 10)) * 30;
        int to = at + static_cast<int>(pick(1, 12)) * 30;
        if (to > 1440) break;
        spans.push_back({at, to});
        at = to + 30;
      }
    }
    c.r.hours = h;
  }
  Instant centre = T(centres[round % 3]);
  c.range = {centre - pick(0, 36 * 60) * 60, centre + pick(1, 36 * 60) * 60};
  if (pick(0, 3) == 0) {
    Instant s = centre + pick(-30 * 60, 30 * 60) * 60;
    c.r.closures = {{s, s + pick(1, 600) * 60}};
  }
  c.now = centre;
  for (std::int64_t n = pick(0, 20); n > 0; --n) {
    Instant s = c.range.start + pick(-600, 72 * 60) * 60;
    Instant expires = pick(0, 3) == 0 ? centre + pick(-2, 2) * 60 : kForever;
    c.usages.push_back({s, s + pick(15, 720) * 60, pick(1, c.r.capacity), expires});
  }
  return c;
}

// Free units per minute of the range; -1 when closed.
std::vector<std::int64_t> MinuteModel(const Case& c) {
  std::vector<std::int64_t> free((c.range.end - c.range.start) / 60, -1);
  for (const Interval& o : OpenIntervals(c.r, c.range)) {
    for (Instant t = o.start; t < o.end; t += 60) free[(t - c.range.start) / 60] = c.r.capacity;
  }
  for (std::size_t m = 0; m < free.size(); ++m) {
    if (free[m] < 0) continue;
    Instant t = c.range.start + static_cast<Instant>(m) * 60;
    for (const Usage& u : c.usages) {
      if (u.start <= t && t < u.end && u.expires_at > c.now) free[m] -= u.quantity;
    }
  }
  return free;
}

TEST(Availability, MatchesMinuteModel) {
  std::mt19937 rng(7);
  for (int round = 0; round < 300; ++round) {
    Case c = RandomCase(rng, round);
    std::vector<std::int64_t> free = MinuteModel(c);

    std::vector<FreeInterval> want;
    for (std::size_t m = 0; m < free.size(); ++m) {
      if (free[m] < 1) continue;
      Instant t = c.range.start + static_cast<Instant>(m) * 60;
      if (!want.empty() && want.back().span.end == t && want.back().available == free[m]) {
        want.back().span.end = t + 60;
      } else {
        want.push_back({{t, t + 60}, free[m]});
      }
    }

    std::vector<FreeInterval> got = Availability(c.r, c.usages, c.range, c.now);
    ASSERT_EQ(got.size(), want.size()) << "round " << round << " tz " << c.r.timezone;
    for (std::size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].span, want[i].span) << "round " << round << " interval " << i;
      ASSERT_EQ(got[i].available, want[i].available) << "round " << round << " interval " << i;
    }
  }
}

TEST(Slots, MatchMinuteModel) {
  std::mt19937 rng(11);
  const std::int64_t steps[] = {900, 1800, 2700, 3600, 5400, 7200};
  for (int round = 0; round < 300; ++round) {
    Case c = RandomCase(rng, round);
    std::vector<std::int64_t> free = MinuteModel(c);
    SlotQuery q;
    q.range = c.range;
    q.step_s = steps[rng() % 6];
    q.duration_s = static_cast<std::int64_t>(rng() % 8 + 1) * 900;
    q.quantity = static_cast<std::int64_t>(rng() % c.r.capacity) + 1;
    q.limit = rng() % 2 == 0 ? 10000 : static_cast<std::int64_t>(rng() % 20);

    std::vector<Interval> want;
    Instant midnight = LocalMidnight(c.r.timezone, c.range.start);
    for (int day = 0; day < 5 && midnight < c.range.end; ++day) {
      Instant next = NextLocalMidnight(c.r.timezone, midnight);
      for (Instant s = midnight; s < next; s += q.step_s) {
        if (s < c.range.start || s + q.duration_s > c.range.end) continue;
        bool ok = true;
        for (Instant t = s; ok && t < s + q.duration_s; t += 60) {
          ok = free[(t - c.range.start) / 60] >= q.quantity;
        }
        if (ok) want.push_back({s, s + q.duration_s});
      }
      midnight = next;
    }
    bool truncated = static_cast<std::int64_t>(want.size()) > q.limit;
    if (truncated) want.resize(q.limit);

    SlotAnswer got = Slots(c.r, c.usages, q, c.now);
    ASSERT_EQ(got.slots, want) << "round " << round << " tz " << c.r.timezone << " step "
                               << q.step_s << " duration " << q.duration_s;
    ASSERT_EQ(got.truncated, truncated) << "round " << round;
  }
}

}  // namespace
}  // namespace bookd::domain
