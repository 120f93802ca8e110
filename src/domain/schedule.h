// When a resource is open: weekly hours in its own time zone, minus closures,
// projected onto UTC. DST rules (RFC 5545 reading, as the contract says):
//  - a local time skipped by a forward jump means the instant the same length
//    of time after the skipped hour began (02:30 on a 02:00->03:00 day is
//    03:30 local, i.e. the UTC instant of 02:00 standard + 30 min);
//  - a local time that occurs twice means its first occurrence;
//  - a day's local midnight is the first instant of that local date.
#pragma once

#include <string_view>
#include <vector>

#include "common/result.h"
#include "domain/model.h"

namespace bookd::domain {

// The open intervals of `r` inside `range`, sorted, merged, clipped to range.
// REQUIRES: r.timezone is known (validated on write).
std::vector<Interval> OpenIntervals(const Resource& r, Interval range);

// The UTC instant of local midnight of the local date on which `t` falls, in
// zone `tz` (the first instant of that date).
Instant LocalMidnight(std::string_view tz, Instant t);

// The first local midnight strictly after `t`'s local date begins.
Instant NextLocalMidnight(std::string_view tz, Instant t);

// Parses "HH:MM" (00:00..24:00) into minutes; nullopt when malformed.
std::optional<int> ParseClock(std::string_view hhmm);
std::string FormatClock(int minutes);

}  // namespace bookd::domain
