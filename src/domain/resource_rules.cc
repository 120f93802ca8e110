#include "domain/resource_rules.h"

namespace bookd::domain {

Status CheckVersion(const Resource& r, std::int64_t if_match) {
  if (r.version == if_match) return Ok{};
  return MakeError(Errc::kPreconditionFailed,
                   "the resource is at version " + std::to_string(r.version));
}

Result<Resource> ApplyPatch(const Resource& r, const ResourcePatch& patch, Instant now) {
  if (patch.capacity && *patch.capacity < 1) {
    return Error::Validation("/capacity", "must be at least 1");
  }
  Resource out = r;
  if (patch.name) out.name = *patch.name;
  if (patch.capacity) out.capacity = *patch.capacity;
  if (patch.timezone) out.timezone = *patch.timezone;
  if (patch.hours) out.hours = *patch.hours;
  if (patch.closures) out.closures = *patch.closures;
  if (patch.metadata_json) out.metadata_json = *patch.metadata_json;
  out.version += 1;
  out.updated_at = now;
  return out;
}

Status CheckCapacityFloor(const Ledger& ledger, std::int64_t capacity, Instant now) {
  const std::int64_t peak = ledger.PeakUsage({now, kForever}, now);
  if (peak <= capacity) return Ok{};
  return MakeError(Errc::kUnavailable, "bookings already use " + std::to_string(peak) +
                                           " units at once; capacity cannot go below that");
}

Status CheckRemovable(const Ledger& ledger, Instant now) {
  if (ledger.PeakUsage({now, kForever}, now) == 0) return Ok{};
  return MakeError(Errc::kConflict,
                   "the resource has active bookings ending in the future; cancel them first");
}

}  // namespace bookd::domain
