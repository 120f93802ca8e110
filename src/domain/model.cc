#include "domain/model.h"

#include <cassert>
#include <string_view>

namespace bookd::domain {

const char* StatusName(BookingStatus s) {
  switch (s) {
    case BookingStatus::kHeld:
      return "held";
    case BookingStatus::kConfirmed:
      return "confirmed";
    case BookingStatus::kCancelled:
      return "cancelled";
    case BookingStatus::kExpired:
      return "expired";
  }
  assert(false && "unknown BookingStatus");
  return "unknown";
}

std::optional<BookingStatus> ParseStatus(std::string_view name) {
  for (BookingStatus s : {BookingStatus::kHeld, BookingStatus::kConfirmed,
                          BookingStatus::kCancelled, BookingStatus::kExpired}) {
    if (name == StatusName(s)) return s;
  }
  return std::nullopt;
}

BookingStatus EffectiveStatus(const Booking& b, Instant now) {
  if (b.status == BookingStatus::kHeld && b.expires_at.has_value() && *b.expires_at <= now) {
    return BookingStatus::kExpired;
  }
  return b.status;
}

bool CountsAt(const Booking& b, Instant now) {
  switch (EffectiveStatus(b, now)) {
    case BookingStatus::kConfirmed:
    case BookingStatus::kHeld:
      return true;
    case BookingStatus::kCancelled:
    case BookingStatus::kExpired:
      return false;
  }
  return false;
}

}  // namespace bookd::domain
