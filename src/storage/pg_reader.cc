#include "storage/pg_reader.h"

#include <algorithm>
#include <array>
#include <limits>

#include "storage/codec.h"
#include "storage/ids.h"
#include "storage/pg_rows.h"

namespace bookd::storage::pg_read {
namespace {

constexpr std::int64_t kPageMax = 1000;
constexpr std::int64_t kKeysMax = 100000;
constexpr std::int64_t kTenantsMax = 100000;
constexpr std::int64_t kUsagesMax = 10000000;

const std::string kResourceCols = kPgResourceColumns;
const std::string kBookingCols = kPgBookingColumns;

const PgSql kResourceGet{
    "r_resource_get",
    "SELECT " + kResourceCols + " FROM resources r WHERE r.tenant = $1 AND r.id = $2"};
const PgSql kResourceList{"r_resource_list",
                          "SELECT " + kResourceCols +
                              " FROM resources r WHERE r.tenant = $1 AND r.id > $2 ORDER BY r.id "
                              "LIMIT $3"};
const PgSql kUsages{
    "r_usages",
    "SELECT i.start_at, i.end_at, i.quantity, b.status, b.expires_at "
    "FROM booking_items i JOIN bookings b ON b.seq = i.booking_seq "
    "WHERE i.tenant = $1 AND i.resource_id = $2 AND i.end_at > $3 AND i.start_at < $4 "
    "AND i.start_at >= $3 - coalesce((SELECT r.max_item_s FROM resources r "
    "WHERE r.tenant = $1 AND r.id = $2), 9223372036854775807 - $3) "
    "AND (b.status = 'confirmed' OR (b.status = 'held' AND b.expires_at > $5)) LIMIT $6"};
const PgSql kBookingGet{"r_booking_get", "SELECT " + kBookingCols +
                                             " FROM bookings b WHERE b.tenant = $1 AND b.id = $2"};
const PgSql kKeyFind{"r_key_find",
                     "SELECT id, tenant, role, created_at FROM api_keys "
                     "WHERE secret_hash = $1 AND revoked_at IS NULL"};
// One statement, so that a tenant cannot vanish between a check and the insert.
const PgSql kKeyInsert{"r_key_insert",
                       "INSERT INTO api_keys (id, tenant, role, secret_hash, created_at) "
                       "SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM tenants "
                       "WHERE id = $2)"};
const PgSql kTenantInsert{"r_tenant_insert",
                          "INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)"};
const PgSql kTenantList{"r_tenant_list",
                        "SELECT id, name, created_at FROM tenants ORDER BY id LIMIT $1"};
const PgSql kKeyList{"r_key_list",
                     "SELECT id, tenant, role, created_at, revoked_at IS NOT NULL FROM api_keys "
                     "ORDER BY created_at, id LIMIT $1"};
const PgSql kKeyRevoke{"r_key_revoke",
                       "UPDATE api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1"};
const PgSql kReady{"r_ready", "SELECT 1"};

// Filters of ListBookings, as bits of the statement variant.
constexpr int kByCustomer = 1;
constexpr int kByStatus = 2;
constexpr int kByResource = 4;
constexpr int kBySpan = 8;
constexpr int kListVariants = 16;

// Parameters are numbered in the order the filters are appended; the
// binding in ListBookings follows the same order.
PgSql ListSql(int mask) {
  static const std::array<const char*, kListVariants> names = {
      "r_list_0",  "r_list_1",  "r_list_2",  "r_list_3", "r_list_4",  "r_list_5",
      "r_list_6",  "r_list_7",  "r_list_8",  "r_list_9", "r_list_10", "r_list_11",
      "r_list_12", "r_list_13", "r_list_14", "r_list_15"};
  int n = 3;
  auto next = [&n] {
    std::string param = "$";  // appended, not `"$" + ...`: GCC 12 warns falsely on that
    param += std::to_string(++n);
    return param;
  };
  std::string sql =
      "SELECT " + kBookingCols + " FROM bookings b WHERE b.tenant = $1 AND b.seq > $2";
  if (mask & kByCustomer) sql += " AND b.customer = " + next();
  if (mask & kByStatus) {
    // $k status as stored; $k+1 how expires_at matters (0 not, 1 the hold
    // still runs at $k+2, 2 it has run out).
    const std::string st = next(), how = next(), now = next();
    sql += " AND b.status = " + st + " AND (" + how + "::int = 0 OR (" + how +
           "::int = 1 AND b.expires_at > " + now + "::bigint) OR (" + how +
           "::int = 2 AND b.expires_at <= " + now + "::bigint))";
  }
  if (mask & (kByResource | kBySpan)) {
    sql += " AND EXISTS (SELECT 1 FROM booking_items i WHERE i.booking_seq = b.seq";
    if (mask & kByResource) sql += " AND i.tenant = $1 AND i.resource_id = " + next();
    if (mask & kBySpan) {
      const std::string from = next(), to = next();
      sql += " AND i.end_at > " + from + " AND i.start_at < " + to;
    }
    sql += ")";
  }
  sql += " ORDER BY b.seq LIMIT $3";
  return PgSql{names[static_cast<std::size_t>(mask)], sql};
}

const std::array<PgSql, kListVariants>& ListStatements() {
  static const std::array<PgSql, kListVariants> all = [] {
    std::array<PgSql, kListVariants> out{};
    for (int m = 0; m < kListVariants; ++m) out[static_cast<std::size_t>(m)] = ListSql(m);
    return out;
  }();
  return all;
}

}  // namespace

Result<Resource> GetResource(PgConn& c, const std::string& tenant, const std::string& id) {
  auto r = c.Query(kResourceGet, {tenant, id});
  if (!r) return std::move(r).error();
  if (r->rows() == 0) return MakeError(Errc::kNotFound, "no resource with id '" + id + "'");
  return PgResourceFromRow(*r, 0, 0, tenant);
}

Result<Page<Resource>> ListResources(PgConn& c, const std::string& tenant,
                                     const std::string& after_id, std::int64_t limit) {
  limit = std::clamp<std::int64_t>(limit, 1, kPageMax);
  auto r = c.Query(kResourceList, {tenant, after_id, std::to_string(limit + 1)});
  if (!r) return std::move(r).error();
  Page<Resource> page;
  for (int i = 0; i < r->rows(); ++i) {
    if (static_cast<std::int64_t>(page.data.size()) == limit) {
      page.more = true;
      break;
    }
    auto res = PgResourceFromRow(*r, i, 0, tenant);
    if (!res) return std::move(res).error();
    page.data.push_back(std::move(*res));
  }
  return page;
}

Result<std::vector<domain::Usage>> Usages(PgConn& c, const std::string& tenant,
                                          const std::string& resource_id, domain::Interval span,
                                          domain::Instant now) {
  auto r =
      c.Query(kUsages, {tenant, resource_id, std::to_string(span.start), std::to_string(span.end),
                        std::to_string(now), std::to_string(kUsagesMax + 1)});
  if (!r) return std::move(r).error();
  if (r->rows() > kUsagesMax) {
    return MakeError(Errc::kInternal, "storage: too many bookings overlap the range");
  }
  std::vector<domain::Usage> usages;
  usages.reserve(static_cast<std::size_t>(r->rows()));
  for (int i = 0; i < r->rows(); ++i) {
    const bool held = r->View(i, 3) == "held";
    usages.push_back(domain::Usage{r->Int(i, 0), r->Int(i, 1), r->Int(i, 2),
                                   held ? r->OptInt(i, 4).value_or(0) : domain::kForever});
  }
  return usages;
}

Result<Booking> GetBooking(PgConn& c, const std::string& tenant, const std::string& id) {
  auto r = c.Query(kBookingGet, {tenant, id});
  if (!r) return std::move(r).error();
  if (r->rows() == 0) return MakeError(Errc::kNotFound, "no booking with id '" + id + "'");
  return PgBookingFromRow(*r, 0, 0, tenant);
}

Result<Page<Booking>> ListBookings(PgConn& c, const std::string& tenant, const BookingQuery& q,
                                   domain::Instant now) {
  const std::int64_t limit = std::clamp<std::int64_t>(q.limit, 1, kPageMax);
  int mask = 0;
  if (q.customer) mask |= kByCustomer;
  if (q.status) mask |= kByStatus;
  if (q.resource_id) mask |= kByResource;
  if (q.from || q.to) mask |= kBySpan;

  PgParams p = {tenant, std::to_string(q.after_seq), std::to_string(limit + 1)};
  if (q.customer) p.push_back(*q.customer);
  if (q.status) {
    const domain::BookingStatus st = *q.status;
    const bool expired = st == domain::BookingStatus::kExpired;
    p.push_back(StoredStatusName(expired ? domain::BookingStatus::kHeld : st));
    p.push_back(expired ? "2" : st == domain::BookingStatus::kHeld ? "1" : "0");
    p.push_back(std::to_string(now));
  }
  if (q.resource_id) p.push_back(*q.resource_id);
  if (mask & kBySpan) {
    p.push_back(std::to_string(q.from.value_or(std::numeric_limits<domain::Instant>::min())));
    p.push_back(std::to_string(q.to.value_or(std::numeric_limits<domain::Instant>::max())));
  }
  auto r = c.Query(ListStatements()[static_cast<std::size_t>(mask)], std::move(p));
  if (!r) return std::move(r).error();
  Page<Booking> page;
  for (int i = 0; i < r->rows(); ++i) {
    if (static_cast<std::int64_t>(page.data.size()) == limit) {
      page.more = true;
      break;
    }
    auto b = PgBookingFromRow(*r, i, 0, tenant);
    if (!b) return std::move(b).error();
    page.data.push_back(std::move(*b));
  }
  return page;
}

Result<ApiKey> FindKey(PgConn& c, const std::string& secret_hash) {
  auto r = c.Query(kKeyFind, {secret_hash});
  if (!r) return std::move(r).error();
  if (r->rows() == 0) return MakeError(Errc::kNotFound, "no such key");
  auto role = ParseRole(r->View(0, 2));
  if (!role) return MakeError(Errc::kInternal, "storage: corrupt key role");
  return ApiKey{r->Text(0, 0), r->Text(0, 1), *role, r->Int(0, 3), false};
}

Result<ApiKey> CreateKey(PgConn& c, const std::string& tenant, Role role,
                         const std::string& secret_hash, domain::Instant now) {
  ApiKey key{NewId("k_", 6), tenant, role, now, false};
  auto r =
      c.Query(kKeyInsert, {key.id, key.tenant, RoleName(role), secret_hash, std::to_string(now)});
  if (!r) {
    if (c.last_sqlstate() == kSqlstateUniqueViolation) {
      return MakeError(Errc::kConflict, "a key with this secret already exists");
    }
    return std::move(r).error();
  }
  if (r->Affected() == 0) {
    return MakeError(
        Errc::kNotFound,
        "no tenant '" + tenant + "': create it first with `bookd tenants create " + tenant + "`");
  }
  return key;
}

Result<std::vector<ApiKey>> ListKeys(PgConn& c) {
  auto r = c.Query(kKeyList, {std::to_string(kKeysMax)});
  if (!r) return std::move(r).error();
  std::vector<ApiKey> keys;
  for (int i = 0; i < r->rows(); ++i) {
    auto role = ParseRole(r->View(i, 2));
    if (!role) return MakeError(Errc::kInternal, "storage: corrupt key role");
    keys.push_back(ApiKey{r->Text(i, 0), r->Text(i, 1), *role, r->Int(i, 3), r->Bool(i, 4)});
  }
  return keys;
}

Status RevokeKey(PgConn& c, const std::string& id, domain::Instant now) {
  auto r = c.Query(kKeyRevoke, {id, std::to_string(now)});
  if (!r) return std::move(r).error();
  if (r->Affected() == 0) return MakeError(Errc::kNotFound, "no key with id '" + id + "'");
  return Ok{};
}

Result<Tenant> CreateTenant(PgConn& c, const std::string& id, const std::string& name,
                            domain::Instant now) {
  auto tenant = NewTenant(id, name, now);
  if (!tenant) return tenant;
  auto r = c.Query(kTenantInsert, {tenant->id, tenant->name, std::to_string(tenant->created_at)});
  if (!r) {
    if (c.last_sqlstate() == kSqlstateUniqueViolation) {
      return MakeError(Errc::kConflict, "a tenant with id '" + id + "' already exists");
    }
    return std::move(r).error();
  }
  return tenant;
}

Result<std::vector<Tenant>> ListTenants(PgConn& c) {
  auto r = c.Query(kTenantList, {std::to_string(kTenantsMax)});
  if (!r) return std::move(r).error();
  std::vector<Tenant> tenants;
  for (int i = 0; i < r->rows(); ++i)
    tenants.push_back(Tenant{r->Text(i, 0), r->Text(i, 1), r->Int(i, 2)});
  return tenants;
}

bool Ready(PgConn& c, int timeout_ms) {
  auto r = c.Query(kReady, {}, timeout_ms);
  return r.ok() && r->rows() == 1;
}

}  // namespace bookd::storage::pg_read
