// Column lists and row decoders shared by the PostgreSQL writer and readers,
// so that both see a resource or a booking exactly the same way. A booking's
// items come with its row as a JSON array (json_agg), so that a booking and
// its items are always read by one statement, i.e. from one snapshot.
#pragma once

#include <string>

#include "common/result.h"
#include "domain/model.h"
#include "storage/pg_conn.h"

namespace bookd::storage {

// SELECT lists (resources aliased `r`, bookings `b`); the decoders
// read columns in this order starting at `col`.
inline constexpr const char* kPgResourceColumns =
    "r.id, r.name, r.capacity, r.timezone, r.hours_json, r.closures_json, r.metadata_json, "
    "r.version, r.created_at, r.updated_at";
inline constexpr int kPgResourceColumnCount = 10;
inline constexpr const char* kPgBookingColumns =
    "b.seq, b.id, b.status, b.customer, b.metadata_json, b.expires_at, b.version, "
    "b.created_at, b.updated_at, (SELECT json_agg(json_build_array(i.resource_id, i.start_at, "
    "i.end_at, i.quantity) ORDER BY i.idx) FROM booking_items i WHERE i.booking_seq = b.seq)";
inline constexpr int kPgBookingColumnCount = 10;

Result<domain::Resource> PgResourceFromRow(const PgResult& r, int row, int col,
                                           const std::string& tenant);
Result<domain::Booking> PgBookingFromRow(const PgResult& r, int row, int col,
                                         const std::string& tenant);

}  // namespace bookd::storage
