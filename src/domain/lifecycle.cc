#include "domain/lifecycle.h"

#include <string>
#include <utility>

namespace bookd::domain {

Booking NewBooking(std::string tenant, std::string id, std::vector<Item> items,
                   std::optional<std::string> customer, std::string metadata_json,
                   std::optional<std::int64_t> hold_seconds, Instant now) {
  Booking b;
  b.tenant = std::move(tenant);
  b.id = std::move(id);
  if (hold_seconds) {
    b.status = BookingStatus::kHeld;
    b.expires_at = now + *hold_seconds;
  } else {
    b.status = BookingStatus::kConfirmed;
  }
  b.items = std::move(items);
  b.customer = std::move(customer);
  b.metadata_json = std::move(metadata_json);
  b.version = 1;
  b.created_at = now;
  b.updated_at = now;
  return b;
}

Status CheckVersion(const Booking& b, std::int64_t if_match) {
  if (b.version == if_match) return Ok{};
  return MakeError(Errc::kPreconditionFailed,
                   "the booking is at version " + std::to_string(b.version));
}

Status CheckPatchable(const Booking& b, Instant now) {
  switch (EffectiveStatus(b, now)) {
    case BookingStatus::kCancelled:
      return MakeError(Errc::kInvalidTransition, "a cancelled booking cannot be changed");
    case BookingStatus::kExpired:
      return MakeError(Errc::kHoldExpired, "the hold has expired; the booking cannot be changed");
    case BookingStatus::kHeld:
    case BookingStatus::kConfirmed:
      break;
  }
  return Ok{};
}

Result<TransitionEffect> ApplyTransition(Booking& b, Transition t, Instant now) {
  const BookingStatus status = EffectiveStatus(b, now);
  BookingStatus to = BookingStatus::kCancelled;
  if (t == Transition::kConfirm) {
    switch (status) {
      case BookingStatus::kConfirmed:
        return TransitionEffect::kAlreadyThere;
      case BookingStatus::kExpired:
        return MakeError(Errc::kHoldExpired, "the hold expired before it was confirmed");
      case BookingStatus::kCancelled:
        return MakeError(Errc::kInvalidTransition, "a cancelled booking cannot be confirmed");
      case BookingStatus::kHeld:
        break;
    }
    to = BookingStatus::kConfirmed;
  } else if (status == BookingStatus::kCancelled || status == BookingStatus::kExpired) {
    return TransitionEffect::kAlreadyThere;
  }
  b.status = to;
  b.expires_at.reset();
  b.version += 1;
  b.updated_at = now;
  return TransitionEffect::kChanged;
}

}  // namespace bookd::domain
