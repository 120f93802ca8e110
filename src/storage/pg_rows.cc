#include "storage/pg_rows.h"

#include <rapidjson/document.h>

#include "storage/codec.h"

namespace bookd::storage {
namespace {

// A booking has at most 100 items; this only stops a corrupt row from
// making the decoder allocate without bound.
constexpr rapidjson::SizeType kItemsMax = 10000;

Error Corrupt(const char* what) {
  return MakeError(Errc::kInternal, std::string("storage: corrupt ") + what + " column");
}

}  // namespace

Result<domain::Resource> PgResourceFromRow(const PgResult& r, int row, int col,
                                           const std::string& tenant) {
  domain::Resource res;
  res.tenant = tenant;
  res.id = r.Text(row, col + 0);
  res.name = r.Text(row, col + 1);
  res.capacity = r.Int(row, col + 2);
  res.timezone = r.Text(row, col + 3);
  if (!r.IsNull(row, col + 4)) {
    auto hours = DecodeHours(r.View(row, col + 4));
    if (!hours) return std::move(hours).error();
    res.hours = std::move(*hours);
  }
  auto closures = DecodeClosures(r.View(row, col + 5));
  if (!closures) return std::move(closures).error();
  res.closures = std::move(*closures);
  res.metadata_json = r.Text(row, col + 6);
  res.version = r.Int(row, col + 7);
  res.created_at = r.Int(row, col + 8);
  res.updated_at = r.Int(row, col + 9);
  return res;
}

Result<domain::Booking> PgBookingFromRow(const PgResult& r, int row, int col,
                                         const std::string& tenant) {
  domain::Booking b;
  b.tenant = tenant;
  b.seq = r.Int(row, col + 0);
  b.id = r.Text(row, col + 1);
  auto status = ParseStoredStatus(r.View(row, col + 2));
  if (!status) return Corrupt("booking status");
  b.status = *status;
  b.customer = r.OptText(row, col + 3);
  b.metadata_json = r.Text(row, col + 4);
  b.expires_at = r.OptInt(row, col + 5);
  b.version = r.Int(row, col + 6);
  b.created_at = r.Int(row, col + 7);
  b.updated_at = r.Int(row, col + 8);
  if (r.IsNull(row, col + 9)) return b;  // no items: only while being written

  const std::string items = r.Text(row, col + 9);
  rapidjson::Document doc;
  doc.Parse(items.c_str(), items.size());
  if (doc.HasParseError() || !doc.IsArray() || doc.Size() > kItemsMax) {
    return Corrupt("booking items");
  }
  b.items.reserve(doc.Size());
  for (const auto& it : doc.GetArray()) {
    if (!it.IsArray() || it.Size() != 4 || !it[0].IsString() || !it[1].IsInt64() ||
        !it[2].IsInt64() || !it[3].IsInt64()) {
      return Corrupt("booking items");
    }
    b.items.push_back(domain::Item{std::string(it[0].GetString(), it[0].GetStringLength()),
                                   it[1].GetInt64(), it[2].GetInt64(), it[3].GetInt64()});
  }
  return b;
}

}  // namespace bookd::storage
