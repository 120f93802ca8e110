// Column lists and row decoders shared by the writer and the readers, so that
// both see a resource or a booking exactly the same way.
#pragma once

#include <optional>
#include <string>

#include "common/result.h"
#include "domain/model.h"
#include "storage/sqlite_db.h"

namespace bookd::storage {

// SELECT lists; the decoders below read columns in this order from 0.
inline constexpr const char* kResourceColumns =
    "id, name, capacity, timezone, hours_json, closures_json, metadata_json, version, "
    "created_at, updated_at";
inline constexpr const char* kBookingColumns =
    "seq, id, status, customer, metadata_json, expires_at, version, created_at, updated_at";
inline constexpr const char* kItemColumns = "resource_id, start_at, end_at, quantity";

Result<domain::Resource> ResourceFromRow(const Stmt& s, const std::string& tenant);
// Items are not part of the row; the caller loads them.
Result<domain::Booking> BookingFromRow(const Stmt& s, const std::string& tenant);
domain::Item ItemFromRow(const Stmt& s);

// Binds a resource's columns for INSERT/UPDATE statements written as
// (?1 tenant, ?2 id, ?3 name, ?4 capacity, ?5 timezone, ?6 hours_json,
//  ?7 closures_json, ?8 metadata_json, ?9 version, ?10 created_at, ?11 updated_at).
// `hours` and `closures` are the encoded texts, which must outlive the use.
void BindResource(Stmt& s, const domain::Resource& r, const std::optional<std::string>& hours,
                  const std::string& closures);

}  // namespace bookd::storage
