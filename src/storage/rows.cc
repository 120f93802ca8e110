#include "storage/rows.h"

#include "storage/codec.h"

namespace bookd::storage {

Result<domain::Resource> ResourceFromRow(const Stmt& s, const std::string& tenant) {
  domain::Resource r;
  r.tenant = tenant;
  r.id = s.Text(0);
  r.name = s.Text(1);
  r.capacity = s.Int(2);
  r.timezone = s.Text(3);
  if (!s.IsNull(4)) {
    auto hours = DecodeHours(s.Text(4));
    if (!hours) return std::move(hours).error();
    r.hours = std::move(*hours);
  }
  auto closures = DecodeClosures(s.Text(5));
  if (!closures) return std::move(closures).error();
  r.closures = std::move(*closures);
  r.metadata_json = s.Text(6);
  r.version = s.Int(7);
  r.created_at = s.Int(8);
  r.updated_at = s.Int(9);
  return r;
}

Result<domain::Booking> BookingFromRow(const Stmt& s, const std::string& tenant) {
  domain::Booking b;
  b.tenant = tenant;
  b.seq = s.Int(0);
  b.id = s.Text(1);
  auto status = ParseStoredStatus(s.Text(2));
  if (!status) return MakeError(Errc::kInternal, "storage: corrupt booking status");
  b.status = *status;
  b.customer = s.OptText(3);
  b.metadata_json = s.Text(4);
  b.expires_at = s.OptInt(5);
  b.version = s.Int(6);
  b.created_at = s.Int(7);
  b.updated_at = s.Int(8);
  return b;
}

domain::Item ItemFromRow(const Stmt& s) {
  return domain::Item{s.Text(0), s.Int(1), s.Int(2), s.Int(3)};
}

void BindResource(Stmt& s, const domain::Resource& r, const std::optional<std::string>& hours,
                  const std::string& closures) {
  s.BindText(1, r.tenant);
  s.BindText(2, r.id);
  s.BindText(3, r.name);
  s.BindInt(4, r.capacity);
  s.BindText(5, r.timezone);
  s.BindOptText(6, hours);
  s.BindText(7, closures);
  s.BindText(8, r.metadata_json);
  s.BindInt(9, r.version);
  s.BindInt(10, r.created_at);
  s.BindInt(11, r.updated_at);
}

}  // namespace bookd::storage
