#include "domain/time.h"

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>

namespace bookd::domain {
namespace {

// Longer inputs are refused before looking at them: the longest valid form
// is a date-time with a long all-zero fraction, and nobody needs more than
// nanoseconds' worth of zeros.
constexpr std::size_t kInstantLengthMax = 40;

Error Invalid(std::string detail) { return MakeError(Errc::kValidation, std::move(detail)); }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads `width` digits at `pos`; false when any of them is not a digit.
bool ReadNumber(std::string_view s, std::size_t pos, std::size_t width, int* out) {
  if (pos + width > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + width; ++i) {
    if (!IsDigit(s[i])) return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

// Lets the zone cache be searched with a string_view without a copy.
struct NameHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// The instants RFC 3339 can spell in UTC (years 0001 to 9999). Responses are
// always UTC, so an instant outside them could be accepted but not returned.
constexpr Instant kInstantMin = -62135596800;  // 0001-01-01T00:00:00Z
constexpr Instant kInstantMax = 253402300799;  // 9999-12-31T23:59:59Z

constexpr const char* kShape =
    "must be an RFC 3339 date-time with an offset, like 2027-03-01T09:00:00Z or "
    "2027-03-01T10:00:00+01:00";

}  // namespace

Result<Instant> ParseInstant(std::string_view text) {
  if (text.size() > kInstantLengthMax) return Invalid(std::string("is too long; ") + kShape);

  // Fixed part: YYYY-MM-DDTHH:MM:SS, 19 characters.
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (text.size() < 19 || !ReadNumber(text, 0, 4, &year) || text[4] != '-' ||
      !ReadNumber(text, 5, 2, &month) || text[7] != '-' || !ReadNumber(text, 8, 2, &day) ||
      (text[10] != 'T' && text[10] != 't') || !ReadNumber(text, 11, 2, &hour) || text[13] != ':' ||
      !ReadNumber(text, 14, 2, &minute) || text[16] != ':' || !ReadNumber(text, 17, 2, &second)) {
    return Invalid(kShape);
  }

  std::size_t pos = 19;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    std::size_t digits = 0;
    bool nonzero = false;
    while (pos < text.size() && IsDigit(text[pos])) {
      nonzero = nonzero || text[pos] != '0';
      ++pos;
      ++digits;
    }
    if (digits == 0) return Invalid(kShape);
    if (nonzero) {
      return Invalid("has a fraction of a second; the precision is one second");
    }
  }

  int offset_s = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int sign = text[pos] == '-' ? -1 : 1;
    int off_h = 0, off_m = 0;
    if (!ReadNumber(text, pos + 1, 2, &off_h) || pos + 3 >= text.size() || text[pos + 3] != ':' ||
        !ReadNumber(text, pos + 4, 2, &off_m)) {
      return Invalid(kShape);
    }
    if (off_h > 23 || off_m > 59) return Invalid("has an offset out of range");
    offset_s = sign * (off_h * 3600 + off_m * 60);
    pos += 6;
  } else if (pos == text.size()) {
    return Invalid("has no offset; add Z for UTC or +HH:MM");
  } else {
    return Invalid(kShape);
  }
  if (pos != text.size()) return Invalid(kShape);

  if (year < 1) return Invalid("has a year out of range (0001 to 9999)");
  if (month < 1 || month > 12) return Invalid("has a month out of range");
  if (hour > 23) return Invalid("has an hour out of range (00 to 23)");
  if (minute > 59) return Invalid("has a minute out of range");
  if (second == 60) return Invalid("is a leap second; leap seconds are not supported");
  if (second > 59) return Invalid("has a second out of range");
  date::year_month_day ymd{date::year{year}, date::month{static_cast<unsigned>(month)},
                           date::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) return Invalid("has a day that does not exist in that month");

  Instant days = date::sys_days{ymd}.time_since_epoch().count();
  const Instant t = days * 86400 + hour * 3600 + minute * 60 + second - offset_s;
  if (t < kInstantMin || t > kInstantMax) {
    return Invalid("is outside 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z once in UTC");
  }
  return t;
}

std::string FormatInstant(Instant t) {
  // Outside years 0001..9999 RFC 3339 has no spelling; clamp rather than
  // print garbage (kForever is the only such value in practice).
  t = std::clamp(t, kInstantMin, kInstantMax);

  Instant days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
  Instant secs = t - days * 86400;
  date::year_month_day ymd{date::sys_days{date::days{days}}};
  // Fixed positions, written digit by digit: this runs twice per slot of a
  // search answer, where snprintf's parsing of its format was a tenth of the
  // time. The clamp above keeps every field within its width.
  std::string out = "0000-00-00T00:00:00Z";
  auto put = [&out](std::size_t at, std::size_t width, unsigned v) {
    for (std::size_t i = 0; i < width; ++i, v /= 10) {
      out[at + width - 1 - i] = static_cast<char>('0' + v % 10);
    }
  };
  put(0, 4, static_cast<unsigned>(static_cast<int>(ymd.year())));
  put(5, 2, static_cast<unsigned>(ymd.month()));
  put(8, 2, static_cast<unsigned>(ymd.day()));
  put(11, 2, static_cast<unsigned>(secs / 3600));
  put(14, 2, static_cast<unsigned>(secs / 60 % 60));
  put(17, 2, static_cast<unsigned>(secs % 60));
  return out;
}

const date::time_zone* LocateZone(std::string_view name) {
  // Zone objects live as long as the process's tz database, so pointers can
  // be cached. Unknown names are not cached: they come from clients and
  // would let the cache grow without bound.
  static std::shared_mutex mu;
  static std::unordered_map<std::string, const date::time_zone*, NameHash, std::equal_to<>> cache;
  {
    std::shared_lock lock(mu);
    auto it = cache.find(name);
    if (it != cache.end()) return it->second;
  }
  const date::time_zone* zone = nullptr;
  try {
    zone = date::locate_zone(name);
  } catch (const std::exception&) {
    return nullptr;
  }
  std::unique_lock lock(mu);
  cache.emplace(std::string(name), zone);
  return zone;
}

bool IsKnownTimeZone(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return LocateZone(name) != nullptr;
}

Instant SystemClock::Now() const {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace bookd::domain
