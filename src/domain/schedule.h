// When a resource is open: weekly hours in its own time zone, minus closures,
// projected onto UTC. DST rules (RFC 5545 reading, as the contract says):
//  - a local time skipped by a forward jump means the instant the same length
//    of time after the skipped hour began (02:30 on a 02:00->03:00 day is
//    03:30 local, i.e. the UTC instant of 02:00 standard + 30 min);
//  - a local time that occurs twice means its first occurrence;
//  - a day's local midnight is the first instant of that local date.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "domain/model.h"

namespace date {
class time_zone;
}  // namespace date

namespace bookd::domain {

// The open intervals of `r` inside `range`, sorted, merged, clipped to range.
// REQUIRES: r.timezone is known (validated on write).
std::vector<Interval> OpenIntervals(const Resource& r, Interval range);

// The UTC instant of local midnight of the local date on which `t` falls, in
// zone `tz` (the first instant of that date).
Instant LocalMidnight(std::string_view tz, Instant t);

// The first local midnight strictly after `t`'s local date begins.
Instant NextLocalMidnight(std::string_view tz, Instant t);

// Local days of one zone mapped to UTC under the rules above. Local day
// numbers count days since 1970-01-01 on the local calendar. Cheap when days
// are asked for in ascending order: it remembers the current UTC-offset
// period, so a year of days costs a handful of tz look-ups. Not thread-safe;
// make one per computation.
class ZoneDays {
 public:
  explicit ZoneDays(const date::time_zone* zone);

  // The local day on which instant `t` falls.
  std::int64_t DayOf(Instant t) const;

  // The first instant of local day `day`.
  Instant DayStart(std::int64_t day);

  // The instant of local wall time `local_s` (seconds since the local epoch):
  // a skipped time is shifted forward by the gap, a repeated one is its first
  // occurrence.
  Instant Map(std::int64_t local_s);

 private:
  // True when every local time of `day` (and its end) maps with offset_s_.
  bool Covered(std::int64_t day);

  const date::time_zone* zone_;
  std::int64_t covered_from_ = 1;  // [covered_from_, covered_to_) of local days
  std::int64_t covered_to_ = 0;
  std::int64_t offset_s_ = 0;
};

// Parses "HH:MM" (00:00..24:00) into minutes; nullopt when malformed.
std::optional<int> ParseClock(std::string_view hhmm);
std::string FormatClock(int minutes);

}  // namespace bookd::domain
