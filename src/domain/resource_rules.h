// The rules for changing or removing a resource, as pure functions. Every
// store's writer applies them inside its transaction, against the ledger it
// holds for the resource, so that the rules exist once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "domain/ledger.h"
#include "domain/model.h"

namespace bookd::domain {

// What a PATCH of a resource may change; an absent member stays as it is.
struct ResourcePatch {
  std::optional<std::string> name;
  std::optional<std::int64_t> capacity;
  std::optional<std::string> timezone;
  std::optional<std::optional<WeeklyHours>> hours;  // inner nullopt: open always
  std::optional<std::vector<Interval>> closures;
  std::optional<std::string> metadata_json;
};

// The precondition of If-Match: `if_match` names the resource's version.
// kPreconditionFailed otherwise.
Status CheckVersion(const Resource& r, std::int64_t if_match);

// `r` with `patch` applied at `now`: version up by one, updated_at `now`.
// kValidation (/capacity) when the new capacity is below 1. Whether the
// bookings still fit a lower capacity is CheckCapacityFloor's question.
Result<Resource> ApplyPatch(const Resource& r, const ResourcePatch& patch, Instant now);

// Lowering capacity never cancels bookings: kUnavailable while what
// `ledger` counts from `now` on needs more than `capacity` units at once.
Status CheckCapacityFloor(const Ledger& ledger, std::int64_t capacity, Instant now);

// A resource is removed only when no booking counts from `now` on:
// kConflict otherwise.
Status CheckRemovable(const Ledger& ledger, Instant now);

}  // namespace bookd::domain
