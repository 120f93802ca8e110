#include "storage/sqlite_reader.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "storage/codec.h"
#include "storage/ids.h"
#include "storage/rows.h"
#include "storage/schema.h"

namespace bookd::storage {
namespace {

constexpr std::int64_t kPageMax = 1000;
constexpr std::size_t kKeysMax = 100000;
constexpr std::size_t kTenantsMax = 100000;
constexpr std::size_t kUsagesMax = 10000000;

// Filters of ListBookings, as bits of the statement variant.
constexpr int kByCustomer = 1;
constexpr int kByStatus = 2;
constexpr int kByResource = 4;
constexpr int kBySpan = 8;

std::string ListBookingsSql(int mask) {
  std::string sql = "SELECT ";
  sql += kBookingColumns;
  sql += " FROM bookings b WHERE b.tenant = ?1 AND b.seq > ?2";
  if (mask & kByCustomer) sql += " AND b.customer = ?4";
  // ?6 selects how expires_at matters: 0 not at all, 1 the hold must still
  // run at ?7 (held), 2 it must have run out (expired, stored as held).
  if (mask & kByStatus) {
    sql +=
        " AND b.status = ?5 AND (?6 = 0 OR (?6 = 1 AND b.expires_at > ?7) OR "
        "(?6 = 2 AND b.expires_at <= ?7))";
  }
  if (mask & kByResource) {
    // Driven from the resource's items (index on tenant, resource_id): the
    // set of matching seqs is built once per page and walked in seq order.
    // A correlated EXISTS here let the planner scan the resource's items
    // once per booking of the tenant, quadratic in the number of bookings.
    sql +=
        " AND b.seq IN (SELECT i.booking_seq FROM booking_items i WHERE i.tenant = ?1 AND "
        "i.resource_id = ?8 AND i.booking_seq > ?2";
    if (mask & kBySpan) sql += " AND i.end_at > ?9 AND i.start_at < ?10";
    sql += ")";
  } else if (mask & kBySpan) {
    sql +=
        " AND EXISTS (SELECT 1 FROM booking_items i WHERE i.booking_seq = b.seq AND "
        "i.end_at > ?9 AND i.start_at < ?10)";
  }
  sql += " ORDER BY b.seq LIMIT ?3";
  return sql;
}

// Ends a read transaction on every path out of a multi-statement read.
class ReadTxn {
 public:
  ReadTxn(Stmt& begin, Stmt& end) : end_(end) { ok_ = begin.Run("begin read").ok(); }
  ~ReadTxn() { (void)end_.Run("end read"); }
  ReadTxn(const ReadTxn&) = delete;
  ReadTxn& operator=(const ReadTxn&) = delete;
  bool ok() const { return ok_; }

 private:
  Stmt& end_;
  bool ok_ = false;
};

}  // namespace

struct ReadConn::Statements {
  Stmt begin, end, ready;
  Stmt resource_get, resource_list, usages, booking_get, items_get;
  Stmt key_find, key_insert, key_list, key_revoke, key_exists;
  Stmt tenant_insert, tenant_list;

  Status Prepare(Db& db) {
    const std::string resource_cols = kResourceColumns;
    const std::string booking_cols = kBookingColumns;
    const std::string item_cols = kItemColumns;
    const std::pair<Stmt*, std::string> all[] = {
        {&begin, "BEGIN"},
        {&end, "COMMIT"},
        {&ready, "SELECT count(*) FROM sqlite_schema"},
        {&resource_get,
         "SELECT " + resource_cols + " FROM resources WHERE tenant = ?1 AND id = ?2"},
        {&resource_list, "SELECT " + resource_cols +
                             " FROM resources WHERE tenant = ?1 AND id > ?2 ORDER BY id LIMIT ?3"},
        {&usages,
         "SELECT i.start_at, i.end_at, i.quantity, b.status, b.expires_at "
         "FROM booking_items i JOIN bookings b ON b.seq = i.booking_seq "
         "WHERE i.tenant = ?1 AND i.resource_id = ?2 AND i.end_at > ?3 AND i.start_at < ?4 "
         "AND (b.status = 'confirmed' OR (b.status = 'held' AND b.expires_at > ?5))"},
        {&booking_get, "SELECT " + booking_cols + " FROM bookings WHERE tenant = ?1 AND id = ?2"},
        {&items_get,
         "SELECT " + item_cols + " FROM booking_items WHERE booking_seq = ?1 ORDER BY idx"},
        {&key_find,
         "SELECT id, tenant, role, created_at FROM api_keys "
         "WHERE secret_hash = ?1 AND revoked_at IS NULL"},
        // One statement, so that a tenant cannot be missing between a check
        // and the insert.
        {&key_insert,
         "INSERT INTO api_keys (id, tenant, role, secret_hash, created_at) "
         "SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM tenants WHERE id = ?2)"},
        {&key_list,
         "SELECT id, tenant, role, created_at, revoked_at IS NOT NULL FROM api_keys "
         "ORDER BY created_at, id"},
        {&key_revoke, "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL"},
        {&key_exists, "SELECT 1 FROM api_keys WHERE id = ?1"},
        {&tenant_insert, "INSERT INTO tenants (id, name, created_at) VALUES (?1, ?2, ?3)"},
        {&tenant_list, "SELECT id, name, created_at FROM tenants ORDER BY id"},
    };
    for (const auto& [stmt, sql] : all) {
      auto s = db.Prepare(sql);
      if (!s) return std::move(s).error();
      *stmt = std::move(*s);
    }
    return Ok{};
  }
};

ReadConn::ReadConn(Db db, const domain::Clock& clock, std::shared_ptr<KeyEpoch> keys)
    : db_(std::move(db)),
      clock_(clock),
      st_(std::make_unique<Statements>()),
      key_epoch_(std::move(keys)) {}

ReadConn::~ReadConn() = default;

Result<std::unique_ptr<ReadConn>> ReadConn::Open(const std::string& path, int busy_timeout_ms,
                                                 const domain::Clock& clock,
                                                 std::shared_ptr<KeyEpoch> keys) {
  auto db = Db::Open(path, busy_timeout_ms);
  if (!db) return std::move(db).error();
  if (auto s = ConfigureConnection(*db); !s) return std::move(s).error();
  // A reader begins nearly every read transaction after the writer has
  // committed, and in WAL mode that discards the connection's whole page
  // cache and unmaps its memory map: with the writer's 64 MiB cache the
  // discard walked a large hash table on every request, and with mmap every
  // request paid a munmap, which interrupts every core the process runs on
  // to flush its TLB. Readers keep a small cache and read with pread.
  if (auto s = db->Exec("PRAGMA cache_size=-1024; PRAGMA mmap_size=0"); !s) {
    return std::move(s).error();
  }
  std::unique_ptr<ReadConn> conn(new ReadConn(std::move(*db), clock, std::move(keys)));
  if (auto s = conn->st_->Prepare(conn->db_); !s) return std::move(s).error();
  return conn;
}

bool ReadConn::Ready() {
  StmtUse s(st_->ready);
  return s->Step() == SQLITE_ROW;
}

// ---- Resources --------------------------------------------------------------

Result<Resource> ReadConn::GetResource(const std::string& tenant, const std::string& id) {
  StmtUse s(st_->resource_get);
  s->BindText(1, tenant);
  s->BindText(2, id);
  const int rc = s->Step();
  if (rc == SQLITE_DONE) return MakeError(Errc::kNotFound, "no resource with id '" + id + "'");
  if (rc != SQLITE_ROW) return SqlError(db_.get(), "get resource");
  return ResourceFromRow(*s, tenant);
}

Result<Page<Resource>> ReadConn::ListResources(const std::string& tenant,
                                               const std::string& after_id, std::int64_t limit) {
  limit = std::clamp<std::int64_t>(limit, 1, kPageMax);
  StmtUse s(st_->resource_list);
  s->BindText(1, tenant);
  s->BindText(2, after_id);
  s->BindInt(3, limit + 1);
  Page<Resource> page;
  int rc;
  while ((rc = s->Step()) == SQLITE_ROW) {
    if (static_cast<std::int64_t>(page.data.size()) == limit) {
      page.more = true;
      break;
    }
    auto r = ResourceFromRow(*s, tenant);
    if (!r) return std::move(r).error();
    page.data.push_back(std::move(*r));
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return SqlError(db_.get(), "list resources");
  return page;
}

Result<std::vector<domain::Usage>> ReadConn::Usages(const std::string& tenant,
                                                    const std::string& resource_id,
                                                    domain::Interval span, domain::Instant now) {
  StmtUse s(st_->usages);
  s->BindText(1, tenant);
  s->BindText(2, resource_id);
  s->BindInt(3, span.start);
  s->BindInt(4, span.end);
  s->BindInt(5, now);
  std::vector<domain::Usage> usages;
  int rc;
  while ((rc = s->Step()) == SQLITE_ROW) {
    if (usages.size() == kUsagesMax) {
      return MakeError(Errc::kInternal, "storage: too many bookings overlap the range");
    }
    const bool held = s->Text(3) == "held";
    usages.push_back(domain::Usage{s->Int(0), s->Int(1), s->Int(2),
                                   held ? s->OptInt(4).value_or(0) : domain::kForever});
  }
  if (rc != SQLITE_DONE) return SqlError(db_.get(), "load usages");
  return usages;
}

Result<std::vector<ResourceUsages>> ReadConn::ResourcesWithUsages(const std::string& tenant,
                                                                  std::span<const std::string> ids,
                                                                  domain::Interval span,
                                                                  domain::Instant now) {
  // One read transaction for all: one snapshot, and one acquisition of the
  // WAL's shared-memory read lock instead of two per resource (which pool
  // threads searching side by side contend for).
  ReadTxn txn(st_->begin, st_->end);
  if (!txn.ok()) return SqlError(db_.get(), "begin read");
  return ReadEachResourceWithUsages(*this, tenant, ids, span, now);
}

// ---- Bookings ---------------------------------------------------------------

Status ReadConn::LoadItems(Booking& b) {
  StmtUse s(st_->items_get);
  s->BindInt(1, b.seq);
  int rc;
  while ((rc = s->Step()) == SQLITE_ROW) b.items.push_back(ItemFromRow(*s));
  if (rc != SQLITE_DONE) return SqlError(db_.get(), "load booking items");
  return Ok{};
}

Result<Booking> ReadConn::GetBooking(const std::string& tenant, const std::string& id) {
  ReadTxn txn(st_->begin, st_->end);
  if (!txn.ok()) return SqlError(db_.get(), "begin read");
  Result<Booking> b = MakeError(Errc::kNotFound, "no booking with id '" + id + "'");
  {
    StmtUse s(st_->booking_get);
    s->BindText(1, tenant);
    s->BindText(2, id);
    const int rc = s->Step();
    if (rc == SQLITE_DONE) return b;
    if (rc != SQLITE_ROW) return SqlError(db_.get(), "get booking");
    b = BookingFromRow(*s, tenant);
    if (!b) return b;
  }
  if (auto s = LoadItems(*b); !s) return std::move(s).error();
  return b;
}

Result<Stmt*> ReadConn::ListStatement(int mask) {
  Stmt& stmt = list_bookings_[static_cast<std::size_t>(mask)];
  if (!stmt.valid()) {
    auto prepared = db_.Prepare(ListBookingsSql(mask));
    if (!prepared) return std::move(prepared).error();
    stmt = std::move(*prepared);
  }
  return &stmt;
}

Result<Page<Booking>> ReadConn::ListBookings(const std::string& tenant, const BookingQuery& q,
                                             domain::Instant now) {
  const std::int64_t limit = std::clamp<std::int64_t>(q.limit, 1, kPageMax);
  int mask = 0;
  if (q.customer) mask |= kByCustomer;
  if (q.status) mask |= kByStatus;
  if (q.resource_id) mask |= kByResource;
  if (q.from || q.to) mask |= kBySpan;
  auto stmt = ListStatement(mask);
  if (!stmt) return std::move(stmt).error();

  ReadTxn txn(st_->begin, st_->end);
  if (!txn.ok()) return SqlError(db_.get(), "begin read");
  Page<Booking> page;
  {
    StmtUse s(**stmt);
    s->BindText(1, tenant);
    s->BindInt(2, q.after_seq);
    s->BindInt(3, limit + 1);
    if (q.customer) s->BindText(4, *q.customer);
    if (q.status) {
      // expired is stored as held; held must not have run out yet.
      const domain::BookingStatus st = *q.status;
      const bool expired = st == domain::BookingStatus::kExpired;
      s->BindText(5, StoredStatusName(expired ? domain::BookingStatus::kHeld : st));
      s->BindInt(6, expired ? 2 : st == domain::BookingStatus::kHeld ? 1 : 0);
      s->BindInt(7, now);
    }
    if (q.resource_id) s->BindText(8, *q.resource_id);
    if (mask & kBySpan) {
      s->BindInt(9, q.from.value_or(std::numeric_limits<domain::Instant>::min()));
      s->BindInt(10, q.to.value_or(std::numeric_limits<domain::Instant>::max()));
    }
    int rc;
    while ((rc = s->Step()) == SQLITE_ROW) {
      if (static_cast<std::int64_t>(page.data.size()) == limit) {
        page.more = true;
        break;
      }
      auto b = BookingFromRow(*s, tenant);
      if (!b) return std::move(b).error();
      page.data.push_back(std::move(*b));
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return SqlError(db_.get(), "list bookings");
  }
  for (Booking& b : page.data) {
    if (auto s = LoadItems(b); !s) return std::move(s).error();
  }
  return page;
}

// ---- Keys -------------------------------------------------------------------

Result<ApiKey> ReadConn::FindKey(const std::string& secret_hash) {
  if (!key_epoch_) return ReadKey(secret_hash);
  // Bounds what a revocation made outside bookd can go unseen for.
  constexpr auto kKeyRereadAfter = std::chrono::seconds(1);
  constexpr std::size_t kCachedKeysMax = 4096;
  const std::uint64_t epoch = key_epoch_->Load();  // before the read: see key_epoch.h
  const auto now = std::chrono::steady_clock::now();
  if (auto it = keys_.find(secret_hash); it != keys_.end()) {
    if (it->second.epoch == epoch && now - it->second.read_at < kKeyRereadAfter) {
      return it->second.key;
    }
    keys_.erase(it);
  }
  auto key = ReadKey(secret_hash);
  if (key) {
    if (keys_.size() >= kCachedKeysMax) keys_.clear();
    keys_.emplace(secret_hash, CachedKey{epoch, now, *key});
  }
  return key;
}

Result<ApiKey> ReadConn::ReadKey(const std::string& secret_hash) {
  StmtUse s(st_->key_find);
  s->BindText(1, secret_hash);
  const int rc = s->Step();
  if (rc == SQLITE_DONE) return MakeError(Errc::kNotFound, "no such key");
  if (rc != SQLITE_ROW) return SqlError(db_.get(), "find key");
  auto role = ParseRole(s->Text(2));
  if (!role) return MakeError(Errc::kInternal, "storage: corrupt key role");
  return ApiKey{s->Text(0), s->Text(1), *role, s->Int(3), false};
}

Result<ApiKey> ReadConn::CreateKey(const std::string& tenant, Role role,
                                   const std::string& secret_hash) {
  ApiKey key{NewId("k_", 6), tenant, role, clock_.Now(), false};
  StmtUse s(st_->key_insert);
  s->BindText(1, key.id);
  s->BindText(2, key.tenant);
  s->BindText(3, RoleName(role));
  s->BindText(4, secret_hash);
  s->BindInt(5, key.created_at);
  const int rc = s->Step();
  if (rc == SQLITE_CONSTRAINT_UNIQUE) {
    return MakeError(Errc::kConflict, "a key with this secret already exists");
  }
  if (rc != SQLITE_DONE) return SqlError(db_.get(), "create key");
  if (sqlite3_changes(db_.get()) == 0) {
    return MakeError(
        Errc::kNotFound,
        "no tenant '" + tenant + "': create it first with `bookd tenants create " + tenant + "`");
  }
  return key;
}

Result<std::vector<ApiKey>> ReadConn::ListKeys() {
  StmtUse s(st_->key_list);
  std::vector<ApiKey> keys;
  int rc;
  while ((rc = s->Step()) == SQLITE_ROW && keys.size() < kKeysMax) {
    auto role = ParseRole(s->Text(2));
    if (!role) return MakeError(Errc::kInternal, "storage: corrupt key role");
    keys.push_back(ApiKey{s->Text(0), s->Text(1), *role, s->Int(3), s->Int(4) != 0});
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return SqlError(db_.get(), "list keys");
  return keys;
}

Status ReadConn::RevokeKey(const std::string& id) {
  {
    StmtUse s(st_->key_revoke);
    s->BindText(1, id);
    s->BindInt(2, clock_.Now());
    if (s->Step() != SQLITE_DONE) return SqlError(db_.get(), "revoke key");
  }
  if (sqlite3_changes(db_.get()) > 0) {
    if (key_epoch_) key_epoch_->Bump();  // after the COMMIT: see key_epoch.h
    return Ok{};
  }
  StmtUse s(st_->key_exists);
  s->BindText(1, id);
  const int rc = s->Step();
  if (rc == SQLITE_ROW) return Ok{};  // already revoked
  if (rc == SQLITE_DONE) return MakeError(Errc::kNotFound, "no key with id '" + id + "'");
  return SqlError(db_.get(), "revoke key");
}

// ---- Tenants ----------------------------------------------------------------

Result<Tenant> ReadConn::CreateTenant(const std::string& id, const std::string& name) {
  auto tenant = NewTenant(id, name, clock_.Now());
  if (!tenant) return tenant;
  StmtUse s(st_->tenant_insert);
  s->BindText(1, tenant->id);
  s->BindText(2, tenant->name);
  s->BindInt(3, tenant->created_at);
  const int rc = s->Step();
  if ((rc & 0xff) == SQLITE_CONSTRAINT) {
    return MakeError(Errc::kConflict, "a tenant with id '" + id + "' already exists");
  }
  if (rc != SQLITE_DONE) return SqlError(db_.get(), "create tenant");
  return tenant;
}

Result<std::vector<Tenant>> ReadConn::ListTenants() {
  StmtUse s(st_->tenant_list);
  std::vector<Tenant> tenants;
  int rc;
  while ((rc = s->Step()) == SQLITE_ROW && tenants.size() < kTenantsMax) {
    tenants.push_back(Tenant{s->Text(0), s->Text(1), s->Int(2)});
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return SqlError(db_.get(), "list tenants");
  return tenants;
}

}  // namespace bookd::storage
