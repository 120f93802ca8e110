// RFC 3339 instants as the contract wants them: an offset is required, the
// precision is one second (a non-zero fraction is rejected, ".000" is fine),
// responses are always UTC with "Z".
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "domain/model.h"

namespace date {
class time_zone;
}  // namespace date

namespace bookd::domain {

// Parses "2027-03-01T10:00:00+01:00" and friends. The error detail says what
// is wrong in words a client can act on.
Result<Instant> ParseInstant(std::string_view text);

// "2027-03-01T09:00:00Z".
std::string FormatInstant(Instant t);

// True when `name` is an IANA zone known to the system's tz database.
bool IsKnownTimeZone(std::string_view name);

// The zone called `name`, or nullptr when unknown. Successful look-ups are
// cached for the life of the process (bounded by the size of the tz
// database); safe to call from any thread.
const date::time_zone* LocateZone(std::string_view name);

// Source of "now"; injected so that hold expiry is testable without sleeping.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual Instant Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  Instant Now() const override;
};

}  // namespace bookd::domain
