// How the SQLite backend stores the parts of a resource and a booking that are
// not plain columns. The encoding is private to storage: compact JSON arrays
// of integers, parsed only when a resource is read (the writer caches parsed
// resources, so no decoding happens on the booking hot path).
//   hours:    NULL (open around the clock) or [[[from,to],...] x 7], minutes
//             after local midnight, Monday first.
//   closures: [[start,end],...] in Unix seconds.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "domain/model.h"
#include "storage/store.h"

namespace bookd::storage {

std::string EncodeHours(const domain::WeeklyHours& hours);
Result<domain::WeeklyHours> DecodeHours(std::string_view text);

std::string EncodeClosures(const std::vector<domain::Interval>& closures);
Result<std::vector<domain::Interval>> DecodeClosures(std::string_view text);

// Stored booking statuses are "held", "confirmed" and "cancelled"; "expired"
// is derived and never stored.
const char* StoredStatusName(domain::BookingStatus s);
std::optional<domain::BookingStatus> ParseStoredStatus(std::string_view name);

const char* RoleName(Role r);
std::optional<Role> ParseRole(std::string_view name);

}  // namespace bookd::storage
