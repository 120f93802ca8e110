// Goal: opening hours follow the resource's local clock through DST exactly
// as the contract reads it (skipped times shift forward by the gap, repeated
// times take the first occurrence, a day starts at its first instant), and
// closures and the range clip the result. Method: hand-computed instants for
// known transition days, then a minute-by-minute comparison against an
// independent model built on sys->local conversion only.
#include "domain/schedule.h"

#include <date/tz.h>
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "domain/time.h"

namespace bookd::domain {
namespace {

Instant T(const char* text) {
  Result<Instant> r = ParseInstant(text);
  EXPECT_TRUE(r.ok()) << text;
  return r.ok() ? *r : 0;
}

// Every day of the week open [from, to) (minutes).
Resource Daily(const char* tz, std::vector<std::pair<int, int>> spans) {
  Resource r;
  r.timezone = tz;
  r.capacity = 1;
  WeeklyHours h;
  for (auto& d : h.days) d = spans;
  r.hours = h;
  return r;
}

constexpr int H(int hours, int minutes = 0) { return hours * 60 + minutes; }

TEST(OpenIntervals, BerlinFollowsLocalClockAcrossSeasons) {
  Resource r = Daily("Europe/Berlin", {{H(9), H(17)}});
  EXPECT_EQ(OpenIntervals(r, {T("2027-01-13T00:00:00Z"), T("2027-01-14T00:00:00Z")}),
            (std::vector<Interval>{{T("2027-01-13T08:00:00Z"), T("2027-01-13T16:00:00Z")}}));
  EXPECT_EQ(OpenIntervals(r, {T("2027-07-14T00:00:00Z"), T("2027-07-15T00:00:00Z")}),
            (std::vector<Interval>{{T("2027-07-14T07:00:00Z"), T("2027-07-14T15:00:00Z")}}));
}

TEST(OpenIntervals, SkippedTimeShiftsForwardByTheGap) {
  // Berlin 2027-03-28: 02:00 CET jumps to 03:00 CEST; 02:30 means 03:30 CEST.
  Resource berlin = Daily("Europe/Berlin", {{H(2, 30), H(5)}});
  EXPECT_EQ(OpenIntervals(berlin, {T("2027-03-28T00:00:00+01:00"), T("2027-03-29T00:00:00+02:00")}),
            (std::vector<Interval>{{T("2027-03-28T01:30:00Z"), T("2027-03-28T03:00:00Z")}}));

  // New York 2027-03-14: 02:00 EST jumps to 03:00 EDT.
  Resource ny = Daily("America/New_York", {{H(2, 30), H(5)}});
  EXPECT_EQ(OpenIntervals(ny, {T("2027-03-14T00:00:00-05:00"), T("2027-03-15T00:00:00-04:00")}),
            (std::vector<Interval>{{T("2027-03-14T07:30:00Z"), T("2027-03-14T09:00:00Z")}}));
}

TEST(OpenIntervals, SpanInsideTheGapEndingAtItsEndIsEmpty) {
  // [02:30, 03:00) maps to [03:30 CEST, 03:00 CEST): nothing.
  Resource berlin = Daily("Europe/Berlin", {{H(2, 30), H(3)}});
  EXPECT_TRUE(
      OpenIntervals(berlin, {T("2027-03-28T00:00:00+01:00"), T("2027-03-29T00:00:00+02:00")})
          .empty());
}

TEST(OpenIntervals, RepeatedTimeIsTheFirstOccurrence) {
  // Berlin 2027-10-31: 03:00 CEST falls back to 02:00 CET; 02:30 first
  // happens at 02:30 CEST = 00:30Z.
  Resource berlin = Daily("Europe/Berlin", {{H(2, 30), H(4)}});
  EXPECT_EQ(OpenIntervals(berlin, {T("2027-10-31T00:00:00+02:00"), T("2027-11-01T00:00:00+01:00")}),
            (std::vector<Interval>{{T("2027-10-31T00:30:00Z"), T("2027-10-31T03:00:00Z")}}));

  // New York 2027-11-07: 02:00 EDT falls back to 01:00 EST.
  Resource ny = Daily("America/New_York", {{H(1, 30), H(3)}});
  EXPECT_EQ(OpenIntervals(ny, {T("2027-11-07T00:00:00-04:00"), T("2027-11-08T00:00:00-05:00")}),
            (std::vector<Interval>{{T("2027-11-07T05:30:00Z"), T("2027-11-07T08:00:00Z")}}));
}

TEST(OpenIntervals, SpanEndingAt2400EndsAtNextLocalMidnight) {
  Resource berlin = Daily("Europe/Berlin", {{H(20), H(24)}});
  // The spring-forward day is 23 hours long; its 24:00 is 22:00Z.
  EXPECT_EQ(OpenIntervals(berlin, {T("2027-03-28T00:00:00Z"), T("2027-03-29T00:00:00Z")}),
            (std::vector<Interval>{{T("2027-03-28T18:00:00Z"), T("2027-03-28T22:00:00Z")}}));
  // Open until 24:00 and from 00:00 the next day merges into one interval.
  Resource late = Daily("Europe/Berlin", {{H(0), H(1)}, {H(20), H(24)}});
  EXPECT_EQ(OpenIntervals(late, {T("2027-01-13T12:00:00Z"), T("2027-01-14T12:00:00Z")}),
            (std::vector<Interval>{{T("2027-01-13T19:00:00Z"), T("2027-01-14T00:00:00Z")}}));
}

TEST(OpenIntervals, MidnightThatDoesNotExistStartsTheDayAtTheJump) {
  // Asia/Beirut 2027-03-28: 00:00 EET jumps to 01:00 EEST (22:00Z on the 27th).
  Resource beirut = Daily("Asia/Beirut", {{H(0), H(2)}});
  std::vector<Interval> open =
      OpenIntervals(beirut, {T("2027-03-27T21:00:00Z"), T("2027-03-28T12:00:00Z")});
  EXPECT_EQ(open, (std::vector<Interval>{{T("2027-03-27T22:00:00Z"), T("2027-03-27T23:00:00Z")}}));
  EXPECT_EQ(LocalMidnight("Asia/Beirut", T("2027-03-28T06:00:00Z")), T("2027-03-27T22:00:00Z"));
  EXPECT_EQ(NextLocalMidnight("Asia/Beirut", T("2027-03-27T12:00:00Z")), T("2027-03-27T22:00:00Z"));

  // America/Santiago 2027-09-05: 00:00 -04 jumps to 01:00 -03.
  EXPECT_EQ(LocalMidnight("America/Santiago", T("2027-09-05T12:00:00Z")),
            T("2027-09-05T04:00:00Z"));
}

TEST(LocalMidnight, OrdinaryAndTransitionDays) {
  EXPECT_EQ(LocalMidnight("UTC", T("2027-03-01T09:00:00Z")), T("2027-03-01T00:00:00Z"));
  EXPECT_EQ(LocalMidnight("Europe/Berlin", T("2027-03-28T12:00:00Z")), T("2027-03-27T23:00:00Z"));
  EXPECT_EQ(NextLocalMidnight("Europe/Berlin", T("2027-03-28T12:00:00Z")),
            T("2027-03-28T22:00:00Z"));
  EXPECT_EQ(LocalMidnight("Europe/Berlin", T("2027-10-31T12:00:00Z")), T("2027-10-30T22:00:00Z"));
  EXPECT_EQ(NextLocalMidnight("Europe/Berlin", T("2027-10-31T12:00:00Z")),
            T("2027-10-31T23:00:00Z"));
  // 23:30Z on the 27th is already the 28th in Berlin.
  EXPECT_EQ(LocalMidnight("Europe/Berlin", T("2027-03-27T23:30:00Z")), T("2027-03-27T23:00:00Z"));
  EXPECT_EQ(LocalMidnight("America/New_York", T("2027-11-07T12:00:00Z")),
            T("2027-11-07T04:00:00Z"));
}

TEST(OpenIntervals, ClosuresAreSubtracted) {
  Resource r = Daily("UTC", {{H(9), H(17)}});
  r.closures = {{T("2027-03-01T12:00:00Z"), T("2027-03-01T13:00:00Z")},
                {T("2027-03-01T16:30:00Z"), T("2027-03-02T10:00:00Z")},
                {T("2027-03-01T12:30:00Z"), T("2027-03-01T12:45:00Z")}};  // inside another
  EXPECT_EQ(OpenIntervals(r, {T("2027-03-01T00:00:00Z"), T("2027-03-03T00:00:00Z")}),
            (std::vector<Interval>{{T("2027-03-01T09:00:00Z"), T("2027-03-01T12:00:00Z")},
                                   {T("2027-03-01T13:00:00Z"), T("2027-03-01T16:30:00Z")},
                                   {T("2027-03-02T10:00:00Z"), T("2027-03-02T17:00:00Z")}}));
}

TEST(OpenIntervals, NoHoursMeansOpenExceptClosures) {
  Resource r;
  r.timezone = "Europe/Berlin";
  Interval range{T("2027-03-01T00:00:00Z"), T("2027-03-02T00:00:00Z")};
  EXPECT_EQ(OpenIntervals(r, range), std::vector<Interval>{range});
  r.closures = {{T("2027-02-01T00:00:00Z"), T("2027-03-01T06:00:00Z")}};
  EXPECT_EQ(OpenIntervals(r, range),
            (std::vector<Interval>{{T("2027-03-01T06:00:00Z"), range.end}}));
  EXPECT_TRUE(OpenIntervals(r, {range.end, range.start}).empty());
}

TEST(OpenIntervals, UnboundedRangeIsClampedToRfc3339Years) {
  Resource r;
  r.closures = {{T("2027-03-01T00:00:00Z"), T("2027-03-02T00:00:00Z")}};
  EXPECT_EQ(OpenIntervals(r, {T("2027-01-01T00:00:00Z"), kForever}),
            (std::vector<Interval>{{T("2027-01-01T00:00:00Z"), T("2027-03-01T00:00:00Z")},
                                   {T("2027-03-02T00:00:00Z"), T("9999-12-31T23:59:59Z") + 1}}));
}

TEST(OpenIntervals, WeekdaysAreIsoOrderAndMissingDaysAreClosed) {
  Resource r;
  r.timezone = "UTC";
  WeeklyHours h;
  h.days[0] = {{H(9), H(10)}};   // Monday
  h.days[6] = {{H(11), H(12)}};  // Sunday
  r.hours = h;
  // 2027-03-01 is a Monday, 2027-03-07 a Sunday.
  EXPECT_EQ(OpenIntervals(r, {T("2027-03-01T00:00:00Z"), T("2027-03-08T00:00:00Z")}),
            (std::vector<Interval>{{T("2027-03-01T09:00:00Z"), T("2027-03-01T10:00:00Z")},
                                   {T("2027-03-07T11:00:00Z"), T("2027-03-07T12:00:00Z")}}));
}

TEST(Clock, ParseAndFormat) {
  EXPECT_EQ(ParseClock("00:00"), 0);
  EXPECT_EQ(ParseClock("09:30"), 570);
  EXPECT_EQ(ParseClock("23:59"), 1439);
  EXPECT_EQ(ParseClock("24:00"), 1440);
  for (const char* bad : {"24:01", "25:00", "9:30", "09:3", "09-30", "0930", "09:60", "", "ab:cd",
                          " 09:30", "09:30 "}) {
    EXPECT_FALSE(ParseClock(bad).has_value()) << bad;
  }
  EXPECT_EQ(FormatClock(0), "00:00");
  EXPECT_EQ(FormatClock(570), "09:30");
  EXPECT_EQ(FormatClock(1440), "24:00");
}

// ---- Property test against an independent model ---------------------------

// The instant of local wall time `local_s` by search: the earliest instant
// whose sys->local conversion gives it, else (a skipped time) the offset in
// force a day earlier.
Instant ModelMap(const date::time_zone* zone, std::int64_t local_s) {
  for (std::int64_t offset_s = 14 * 3600; offset_s >= -14 * 3600; offset_s -= 900) {
    Instant t = local_s - offset_s;
    auto local = zone->to_local(date::sys_seconds{std::chrono::seconds{t}});
    if (local.time_since_epoch().count() == local_s) return t;
  }
  auto before = zone->get_info(date::sys_seconds{std::chrono::seconds{local_s - 86400}});
  return local_s - before.offset.count();
}

TEST(OpenIntervals, MatchesMinuteModelAroundTransitions) {
  std::mt19937 rng(20270328);
  const char* zones[] = {"Europe/Berlin", "America/New_York", "UTC"};
  const char* days[] = {"2027-03-28", "2027-10-31", "2027-03-14", "2027-11-07", "2027-06-01"};
  for (int round = 0; round < 60; ++round) {
    const char* tz = zones[round % 3];
    const date::time_zone* zone = LocateZone(tz);
    Resource r;
    r.timezone = tz;
    WeeklyHours h;
    for (auto& spans : h.days) {
      int at = 0;
      while (true) {
        at += std::uniform_int_distribution<int>(0, 8)(rng) * 30;
        int to = at + std::uniform_int_distribution<int>(1, 8)(rng) * 30;
        if (to > 1440) break;
        spans.push_back({at, to});
        at = to + 30;
      }
    }
    r.hours = h;
    Instant centre = T((std::string(days[round % 5]) + "T12:00:00Z").c_str());
    Interval range{centre - 2 * 86400 + 60 * (round % 7), centre + 2 * 86400};
    if (round % 4 == 0) r.closures = {{centre - 3600 * 5, centre + 3600 * 7}};

    std::set<Instant> model;  // open minutes
    for (std::int64_t day = (range.start - 86400 * 2) / 86400; day <= range.end / 86400 + 1;
         ++day) {
      unsigned iso = date::weekday{date::local_days{date::days{day}}}.iso_encoding();
      for (auto [from, to] : h.days[iso - 1]) {
        Instant s = ModelMap(zone, day * 86400 + from * 60);
        Instant e = ModelMap(zone, day * 86400 + to * 60);
        for (Instant t = s; t < e; t += 60) {
          bool closed = false;
          for (const Interval& c : r.closures) closed = closed || (c.start <= t && t < c.end);
          if (!closed && t >= range.start && t < range.end) model.insert(t);
        }
      }
    }

    std::set<Instant> got;
    std::vector<Interval> open = OpenIntervals(r, range);
    for (std::size_t i = 0; i < open.size(); ++i) {
      ASSERT_LT(open[i].start, open[i].end);
      if (i > 0) {
        ASSERT_LT(open[i - 1].end, open[i].start) << "not merged or not sorted";
      }
      for (Instant t = open[i].start; t < open[i].end; t += 60) got.insert(t);
    }
    ASSERT_EQ(got, model) << tz << " round " << round;
  }
}

}  // namespace
}  // namespace bookd::domain
