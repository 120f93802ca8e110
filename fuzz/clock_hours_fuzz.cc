// Opening hours: domain::ParseClock on the first five bytes, then the rest as
// the JSON "hours" member of a resource (api::ReadResourceBody), in a zone
// picked by one byte, projected onto UTC (domain::OpenIntervals) over a range
// picked by five more bytes. Checks: clocks round-trip, accepted spans obey
// the model's rules, and the open intervals are sorted, merged, non-empty
// and inside the range, on DST days of awkward zones too.
#include <rapidjson/document.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "api/json_in.h"
#include "domain/schedule.h"
#include "domain/time.h"
#include "fuzz_check.h"

namespace {

using bookd::domain::Instant;

// Zones with DST at midnight, half-hour DST, a skipped date line day, and
// offsets that are not whole hours.
constexpr std::array<const char*, 10> kZones = {"UTC",
                                                "Europe/Berlin",
                                                "America/New_York",
                                                "Australia/Lord_Howe",
                                                "Pacific/Apia",
                                                "Asia/Kathmandu",
                                                "America/Santiago",
                                                "Africa/Casablanca",
                                                "America/Havana",
                                                "Pacific/Chatham"};

constexpr Instant kRangeBase = -2208988800;             // 1900-01-01T00:00:00Z
constexpr std::uint32_t kRangeSpanMinutes = 105189120;  // about 200 years
constexpr std::size_t kPrefix = 5 + 1 + 5;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace bookd;
  if (size < kPrefix) return 0;
  const char* text = reinterpret_cast<const char*>(data);

  if (auto minutes = domain::ParseClock(std::string_view(text, 5))) {
    FUZZ_CHECK(*minutes >= 0 && *minutes <= 1440, "a clock is within a day");
    FUZZ_CHECK(domain::FormatClock(*minutes) == std::string_view(text, 5), "HH:MM round-trips");
  }

  const char* zone = kZones[data[5] % kZones.size()];
  std::uint32_t start_min = 0;
  for (int i = 0; i < 4; ++i) start_min = start_min << 8 | data[6 + i];
  const Instant start = kRangeBase + static_cast<Instant>(start_min % kRangeSpanMinutes) * 60;
  const Instant length = (static_cast<Instant>(data[10]) + 1) * 3 * 86400 + start_min % 7919;
  const domain::Interval range{start, start + length};

  rapidjson::Document hours;
  if (!api::ParseStrictJson(std::string_view(text + kPrefix, size - kPrefix), hours).ok()) {
    return 0;
  }
  rapidjson::Document body(rapidjson::kObjectType);
  auto& alloc = body.GetAllocator();
  body.AddMember("name", "fuzz", alloc);
  body.AddMember("timezone", rapidjson::StringRef(zone), alloc);
  body.AddMember("hours", rapidjson::Value(hours, alloc), alloc);

  auto read = api::ReadResourceBody(body, true);
  if (!read.ok()) {
    FUZZ_CHECK(!read.error().errors.empty(), "a refused body names its fields");
    return 0;
  }
  domain::Resource r = api::ResourceFromBody(std::move(*read));
  if (r.hours) {
    for (const auto& spans : r.hours->days) {
      int previous_end = -1;
      for (const auto& [from, to] : spans) {
        FUZZ_CHECK(0 <= from && from < to && to <= 1440, "a span is inside its day");
        FUZZ_CHECK(from >= previous_end, "spans are in order and disjoint");
        previous_end = to;
      }
    }
  }

  const auto open = domain::OpenIntervals(r, range);
  Instant previous_end = range.start - 1;
  for (const auto& i : open) {
    FUZZ_CHECK(i.start < i.end, "an open interval is not empty");
    FUZZ_CHECK(range.start <= i.start && i.end <= range.end, "open intervals stay in range");
    FUZZ_CHECK(i.start > previous_end, "open intervals are sorted and merged");
    previous_end = i.end;
  }
  if (!r.hours) {
    FUZZ_CHECK(open.size() == 1 && open[0] == range, "no hours means always open");
  }
  return 0;
}
