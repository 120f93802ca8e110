#include "storage/codec.h"

#include <rapidjson/document.h>

#include <cassert>

namespace bookd::storage {
namespace {

// Nesting and sizes are bounded by what the API accepts; these limits only
// stop a corrupted row from making the decoder allocate without bound.
constexpr std::size_t kSpansPerDayMax = 1440;
constexpr std::size_t kClosuresMax = 1000000;

Error Corrupt(std::string_view what) {
  return MakeError(Errc::kInternal, "storage: corrupt " + std::string(what) + " column");
}

bool IsIntPair(const rapidjson::Value& v) {
  return v.IsArray() && v.Size() == 2 && v[0].IsInt64() && v[1].IsInt64();
}

}  // namespace

std::string EncodeHours(const domain::WeeklyHours& hours) {
  std::string out = "[";
  for (std::size_t d = 0; d < hours.days.size(); ++d) {
    if (d > 0) out += ',';
    out += '[';
    for (std::size_t i = 0; i < hours.days[d].size(); ++i) {
      if (i > 0) out += ',';
      out += '[';
      out += std::to_string(hours.days[d][i].first);
      out += ',';
      out += std::to_string(hours.days[d][i].second);
      out += ']';
    }
    out += ']';
  }
  out += ']';
  return out;
}

Result<domain::WeeklyHours> DecodeHours(std::string_view text) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError() || !doc.IsArray() || doc.Size() != 7) return Corrupt("hours");
  domain::WeeklyHours hours;
  for (rapidjson::SizeType d = 0; d < 7; ++d) {
    const auto& day = doc[d];
    if (!day.IsArray() || day.Size() > kSpansPerDayMax) return Corrupt("hours");
    for (const auto& span : day.GetArray()) {
      if (!IsIntPair(span)) return Corrupt("hours");
      hours.days[d].emplace_back(static_cast<int>(span[0].GetInt64()),
                                 static_cast<int>(span[1].GetInt64()));
    }
  }
  return hours;
}

std::string EncodeClosures(const std::vector<domain::Interval>& closures) {
  std::string out = "[";
  for (std::size_t i = 0; i < closures.size(); ++i) {
    if (i > 0) out += ',';
    out += '[';
    out += std::to_string(closures[i].start);
    out += ',';
    out += std::to_string(closures[i].end);
    out += ']';
  }
  out += ']';
  return out;
}

Result<std::vector<domain::Interval>> DecodeClosures(std::string_view text) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError() || !doc.IsArray() || doc.Size() > kClosuresMax) {
    return Corrupt("closures");
  }
  std::vector<domain::Interval> closures;
  closures.reserve(doc.Size());
  for (const auto& c : doc.GetArray()) {
    if (!IsIntPair(c)) return Corrupt("closures");
    closures.push_back({c[0].GetInt64(), c[1].GetInt64()});
  }
  return closures;
}

const char* StoredStatusName(domain::BookingStatus s) {
  switch (s) {
    case domain::BookingStatus::kHeld:
      return "held";
    case domain::BookingStatus::kConfirmed:
      return "confirmed";
    case domain::BookingStatus::kCancelled:
      return "cancelled";
    case domain::BookingStatus::kExpired:
      break;
  }
  assert(false && "expired is derived, never stored");
  return "held";
}

std::optional<domain::BookingStatus> ParseStoredStatus(std::string_view name) {
  if (name == "held") return domain::BookingStatus::kHeld;
  if (name == "confirmed") return domain::BookingStatus::kConfirmed;
  if (name == "cancelled") return domain::BookingStatus::kCancelled;
  return std::nullopt;
}

const char* RoleName(Role r) { return r == Role::kAdmin ? "admin" : "booking"; }

std::optional<Role> ParseRole(std::string_view name) {
  if (name == "admin") return Role::kAdmin;
  if (name == "booking") return Role::kBooking;
  return std::nullopt;
}

}  // namespace bookd::storage
