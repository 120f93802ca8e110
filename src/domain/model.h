// The booking domain's data, shared by every layer. Plain values, no I/O.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bookd::domain {

// Seconds since the Unix epoch, UTC. The contract's precision is one second.
using Instant = std::int64_t;
inline constexpr Instant kForever = INT64_MAX;

// Half-open [start, end).
struct Interval {
  Instant start = 0;
  Instant end = 0;
  bool operator==(const Interval&) const = default;
};

// Opening hours of one weekday: [from, to) in minutes after local midnight,
// 0 <= from < to <= 1440, in order and not overlapping.
using DaySpans = std::vector<std::pair<int, int>>;

// Index 0 is Monday, 6 is Sunday (ISO order, as the JSON keys mon..sun).
struct WeeklyHours {
  std::array<DaySpans, 7> days;
  bool operator==(const WeeklyHours&) const = default;
};

struct Resource {
  std::string tenant;
  std::string id;
  std::string name;
  std::int64_t capacity = 1;
  std::string timezone = "UTC";
  std::optional<WeeklyHours> hours;  // nullopt: open around the clock
  std::vector<Interval> closures;
  std::string metadata_json = "{}";  // serialized JSON object
  std::int64_t version = 1;
  Instant created_at = 0;
  Instant updated_at = 0;
};

// The stored states are held, confirmed and cancelled. `expired` is derived:
// a held booking whose expires_at <= now is expired, whether or not any
// clean-up has rewritten it (see EffectiveStatus).
enum class BookingStatus { kHeld, kConfirmed, kCancelled, kExpired };

const char* StatusName(BookingStatus s);
std::optional<BookingStatus> ParseStatus(std::string_view name);

struct Item {
  std::string resource_id;
  Instant start = 0;
  Instant end = 0;
  std::int64_t quantity = 1;
  bool operator==(const Item&) const = default;
};

struct Booking {
  std::string tenant;
  std::string id;
  std::int64_t seq = 0;                         // creation order; the listing order and cursor
  BookingStatus status = BookingStatus::kHeld;  // as stored
  std::vector<Item> items;
  std::optional<std::string> customer;
  std::string metadata_json = "{}";
  std::optional<Instant> expires_at;  // held bookings only
  std::int64_t version = 1;
  Instant created_at = 0;
  Instant updated_at = 0;
};

// The status a client sees at `now`.
BookingStatus EffectiveStatus(const Booking& b, Instant now);

// True when the booking's items count against capacity at `now`: confirmed,
// or held with expires_at > now.
bool CountsAt(const Booking& b, Instant now);

// One booked item as the capacity check sees it. `expires_at` is kForever for
// confirmed bookings; a held item stops counting at expires_at exactly.
struct Usage {
  Instant start = 0;
  Instant end = 0;
  std::int64_t quantity = 0;
  Instant expires_at = kForever;
  bool operator==(const Usage&) const = default;
};

}  // namespace bookd::domain
