#include "storage/store.h"

namespace bookd::storage {
namespace {

constexpr std::size_t kTenantNameMax = 200;

}  // namespace

bool IsValidTenantId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (std::size_t i = 0; i < id.size(); ++i) {
    const char c = id[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-'))) return false;
  }
  return true;
}

Result<Tenant> NewTenant(const std::string& id, const std::string& name, Instant now) {
  if (!IsValidTenantId(id)) {
    return MakeError(Errc::kValidation,
                     "a tenant id is 1 to 64 letters, digits, '.', '_' or '-', starting with a "
                     "letter or digit");
  }
  if (name.size() > kTenantNameMax) {
    return MakeError(Errc::kValidation, "a tenant name is at most 200 bytes");
  }
  return Tenant{id, name.empty() ? id : name, now};
}

Result<std::vector<ResourceUsages>> Store::ResourcesWithUsages(const std::string& tenant,
                                                               std::span<const std::string> ids,
                                                               domain::Interval span, Instant now) {
  return ReadEachResourceWithUsages(*this, tenant, ids, span, now);
}

Result<Tenant> Store::CreateTenant(const std::string& /*id*/, const std::string& /*name*/) {
  return MakeError(Errc::kInternal, "tenants are not supported by this backend");
}

Result<std::vector<Tenant>> Store::ListTenants() {
  return MakeError(Errc::kInternal, "tenants are not supported by this backend");
}

// StoreStats::batch_size_buckets has one more entry than these bounds: entry
// i counts batches of size <= bounds[i] (and > bounds[i-1]); the last entry
// counts batches larger than every bound. Counts are not cumulative.
const std::vector<std::uint64_t>& BatchSizeBounds() {
  static const std::vector<std::uint64_t> bounds = {1,   2,   4,   8,    16,   32,  64,
                                                    128, 256, 512, 1024, 2048, 4096};
  return bounds;
}

}  // namespace bookd::storage
