// Opening hours are stored as local wall-clock spans per weekday; every
// question about them is answered in UTC. The projection walks local days in
// ascending order, maps each span's ends with the contract's DST rules (see
// schedule.h), then sorts, merges, removes closures and clips to the range.
// Spans whose mapped start is not before their mapped end (possible inside a
// skipped hour) contribute nothing.
#include "domain/schedule.h"

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cstdio>

#include "domain/time.h"

namespace bookd::domain {
namespace {

constexpr std::int64_t kDay_s = 86400;
constexpr Instant kFirstInstant = -62135596800;  // 0001-01-01T00:00:00Z
constexpr Instant kLastInstant = 253402300799;   // 9999-12-31T23:59:59Z

std::int64_t FloorDiv(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

date::local_seconds Local(std::int64_t local_s) {
  return date::local_seconds{std::chrono::seconds{local_s}};
}

const date::time_zone* ZoneOrUtc(std::string_view name) {
  const date::time_zone* zone = LocateZone(name);
  assert(zone != nullptr && "time zones are validated on write");
  if (zone == nullptr) zone = LocateZone("UTC");
  return zone;
}

// Sorts and merges overlapping or touching intervals in place.
void Normalize(std::vector<Interval>& v) {
  std::sort(v.begin(), v.end(),
            [](const Interval& a, const Interval& b) { return a.start < b.start; });
  std::size_t out = 0;
  for (const Interval& i : v) {
    if (i.start >= i.end) continue;
    if (out > 0 && i.start <= v[out - 1].end) {
      v[out - 1].end = std::max(v[out - 1].end, i.end);
    } else {
      v[out++] = i;
    }
  }
  v.resize(out);
}

// `open` minus `closed`; both sorted and merged.
std::vector<Interval> Subtract(const std::vector<Interval>& open,
                               const std::vector<Interval>& closed) {
  std::vector<Interval> out;
  out.reserve(open.size());
  std::size_t c = 0;
  for (Interval piece : open) {
    while (c < closed.size() && closed[c].end <= piece.start) ++c;
    for (std::size_t k = c; k < closed.size() && closed[k].start < piece.end; ++k) {
      if (closed[k].start > piece.start) out.push_back({piece.start, closed[k].start});
      piece.start = std::max(piece.start, closed[k].end);
      if (piece.start >= piece.end) break;
    }
    if (piece.start < piece.end) out.push_back(piece);
  }
  return out;
}

}  // namespace

ZoneDays::ZoneDays(const date::time_zone* zone) : zone_(zone) { assert(zone_ != nullptr); }

std::int64_t ZoneDays::DayOf(Instant t) const {
  date::sys_info info = zone_->get_info(date::sys_seconds{std::chrono::seconds{t}});
  return FloorDiv(t + info.offset.count(), kDay_s);
}

bool ZoneDays::Covered(std::int64_t day) {
  if (day >= covered_from_ && day < covered_to_) return true;
  date::local_info info = zone_->get_info(Local(day * kDay_s));
  if (info.result != date::local_info::unique) return false;
  // Every local time of days [day, to) and the end of the last of them fall
  // inside this one period, so they all map with its offset.
  std::int64_t offset_s = info.first.offset.count();
  std::int64_t end_s = info.first.end.time_since_epoch().count();
  std::int64_t to = FloorDiv(end_s + offset_s - 1, kDay_s);
  if (to <= day) return false;
  covered_from_ = day;
  covered_to_ = to;
  offset_s_ = offset_s;
  return true;
}

Instant ZoneDays::DayStart(std::int64_t day) {
  if (Covered(day)) return day * kDay_s - offset_s_;
  date::local_info info = zone_->get_info(Local(day * kDay_s));
  if (info.result == date::local_info::nonexistent) {
    // Midnight was skipped: the date begins when the clocks jump.
    return info.second.begin.time_since_epoch().count();
  }
  return day * kDay_s - info.first.offset.count();
}

Instant ZoneDays::Map(std::int64_t local_s) {
  if (Covered(FloorDiv(local_s, kDay_s))) return local_s - offset_s_;
  // For all three cases the offset before the transition is the right one:
  // unique times have only it, a repeated time's first occurrence has it,
  // and a skipped time lies that far after the gap began.
  date::local_info info = zone_->get_info(Local(local_s));
  return local_s - info.first.offset.count();
}

std::vector<Interval> OpenIntervals(const Resource& r, Interval range) {
  // Instants of the contract lie in years 0001..9999; clamping there keeps
  // the day loop bounded (and the tz library in range) even for a caller
  // that passes kForever.
  range.start = std::max(range.start, kFirstInstant);
  range.end = std::min(range.end, kLastInstant + 1);
  if (range.start >= range.end) return {};

  std::vector<Interval> open;
  if (!r.hours.has_value()) {
    open.push_back(range);
  } else {
    ZoneDays days(ZoneOrUtc(r.timezone));
    // One day of margin on the left: a span mapped through a gap that
    // crosses midnight may end after the next day began.
    std::int64_t first = days.DayOf(range.start) - 1;
    std::int64_t last = days.DayOf(range.end - 1);
    for (std::int64_t day = first; day <= last; ++day) {
      unsigned iso = date::weekday{date::local_days{date::days{day}}}.iso_encoding();
      for (const auto& [from_min, to_min] : r.hours->days[iso - 1]) {
        Instant start = from_min == 0 ? days.DayStart(day) : days.Map(day * kDay_s + from_min * 60);
        Instant end =
            to_min == 1440 ? days.DayStart(day + 1) : days.Map(day * kDay_s + to_min * 60);
        start = std::max(start, range.start);
        end = std::min(end, range.end);
        if (start < end) open.push_back({start, end});
      }
    }
    Normalize(open);
  }

  if (r.closures.empty()) return open;
  std::vector<Interval> closed = r.closures;
  Normalize(closed);
  return Subtract(open, closed);
}

Instant LocalMidnight(std::string_view tz, Instant t) {
  ZoneDays days(ZoneOrUtc(tz));
  return days.DayStart(days.DayOf(t));
}

Instant NextLocalMidnight(std::string_view tz, Instant t) {
  ZoneDays days(ZoneOrUtc(tz));
  std::int64_t day = days.DayOf(t) + 1;
  Instant next = days.DayStart(day);
  // A date that repeats after a backward jump over midnight could put the
  // next date's start before t; a few steps always get past it.
  for (int i = 0; i < 3 && next <= t; ++i) next = days.DayStart(++day);
  return next;
}

std::optional<int> ParseClock(std::string_view hhmm) {
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (hhmm.size() != 5 || !digit(hhmm[0]) || !digit(hhmm[1]) || hhmm[2] != ':' || !digit(hhmm[3]) ||
      !digit(hhmm[4])) {
    return std::nullopt;
  }
  int hours = (hhmm[0] - '0') * 10 + (hhmm[1] - '0');
  int minutes = (hhmm[3] - '0') * 10 + (hhmm[4] - '0');
  if (minutes > 59 || hours > 24 || (hours == 24 && minutes != 0)) return std::nullopt;
  return hours * 60 + minutes;
}

std::string FormatClock(int minutes) {
  assert(minutes >= 0 && minutes <= 1440);
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02d:%02d", minutes / 60 % 100, minutes % 60);
  return buf;
}

}  // namespace bookd::domain
