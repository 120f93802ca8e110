#include "storage/sqlite_writer.h"

#include <algorithm>
#include <cassert>
#include <utility>

#include "domain/availability.h"
#include "domain/lifecycle.h"
#include "domain/resource_rules.h"
#include "storage/codec.h"
#include "storage/ids.h"
#include "storage/perform.h"
#include "storage/rows.h"
#include "storage/schema.h"

namespace bookd::storage {
namespace {

using domain::Instant;
using domain::kForever;

// A ledger holds the usages that end after (now - kLedgerMargin_s) when it is
// loaded or pruned; items reaching further back are checked against a ledger
// loaded for the occasion (rare: bookings in the past).
constexpr Instant kLedgerMargin_s = 86400;
constexpr Instant kPruneInterval_s = 600;
// Above this many cached resources the caches are dropped and rebuilt lazily:
// memory stays bounded however many resources a deployment has.
constexpr std::size_t kCachedResourcesMax = 100000;
constexpr Instant kIdempotencyTtl_s = 86400;
constexpr std::int64_t kIdempotencySweepMax = 256;
// A batch in which commands keep failing with SQL errors is given up after
// this many attempts (each attempt leaves out the command that failed).
constexpr int kBatchAttemptsMax = 3;

std::string CacheKey(const std::string& tenant, const std::string& id) {
  std::string key;
  key.reserve(tenant.size() + 1 + id.size());
  key += tenant;
  key += '\0';
  key += id;
  return key;
}

domain::Usage UsageOf(const Booking& b, const domain::Item& it) {
  const Instant expires =
      b.status == domain::BookingStatus::kHeld && b.expires_at ? *b.expires_at : kForever;
  return domain::Usage{it.start, it.end, it.quantity, expires};
}

bool IsInternal(const WriteOutcome& out) {
  const auto* e = std::get_if<Error>(&out.value);
  return e != nullptr && e->code == Errc::kInternal;
}

}  // namespace

struct Writer::Statements {
  Stmt begin, commit, rollback, data_version;
  Stmt resource_get, resource_insert, resource_update, resource_delete;
  Stmt usages_load;
  Stmt booking_get, items_get, booking_insert, item_insert, booking_update, items_delete;
  Stmt idem_get, idem_put, idem_sweep;

  Status Prepare(Db& db) {
    const std::string resource_cols = kResourceColumns;
    const std::string booking_cols = kBookingColumns;
    const std::string item_cols = kItemColumns;
    const std::pair<Stmt*, std::string> all[] = {
        {&begin, "BEGIN IMMEDIATE"},
        {&commit, "COMMIT"},
        {&rollback, "ROLLBACK"},
        {&data_version, "PRAGMA data_version"},
        {&resource_get,
         "SELECT " + resource_cols + " FROM resources WHERE tenant = ?1 AND id = ?2"},
        {&resource_insert,
         "INSERT INTO resources (tenant, id, name, capacity, timezone, hours_json, "
         "closures_json, metadata_json, version, created_at, updated_at) "
         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"},
        {&resource_update,
         "UPDATE resources SET name = ?3, capacity = ?4, timezone = ?5, hours_json = ?6, "
         "closures_json = ?7, metadata_json = ?8, version = ?9, created_at = ?10, "
         "updated_at = ?11 WHERE tenant = ?1 AND id = ?2"},
        {&resource_delete, "DELETE FROM resources WHERE tenant = ?1 AND id = ?2"},
        // Cancelled bookings never count again; held ones are kept whatever
        // their expiry so that a clock stepping back cannot hide a hold.
        {&usages_load,
         "SELECT b.id, i.start_at, i.end_at, i.quantity, b.status, b.expires_at "
         "FROM booking_items i JOIN bookings b ON b.seq = i.booking_seq "
         "WHERE i.tenant = ?1 AND i.resource_id = ?2 AND i.end_at > ?3 "
         "AND b.status <> 'cancelled'"},
        {&booking_get, "SELECT " + booking_cols + " FROM bookings WHERE tenant = ?1 AND id = ?2"},
        {&items_get,
         "SELECT " + item_cols + " FROM booking_items WHERE booking_seq = ?1 ORDER BY idx"},
        {&booking_insert,
         "INSERT INTO bookings (tenant, id, status, customer, metadata_json, expires_at, "
         "version, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"},
        {&item_insert,
         "INSERT INTO booking_items (booking_seq, idx, tenant, resource_id, start_at, end_at, "
         "quantity) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"},
        {&booking_update,
         "UPDATE bookings SET status = ?2, customer = ?3, metadata_json = ?4, expires_at = ?5, "
         "version = ?6, updated_at = ?7 WHERE seq = ?1"},
        {&items_delete, "DELETE FROM booking_items WHERE booking_seq = ?1"},
        {&idem_get,
         "SELECT request_hash, status, body, content_type, location, etag, created_at "
         "FROM idempotency WHERE key_id = ?1 AND key = ?2 AND tenant = ?3"},
        {&idem_put,
         "INSERT OR REPLACE INTO idempotency (tenant, key_id, key, request_hash, status, body, "
         "content_type, location, etag, created_at) "
         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"},
        {&idem_sweep,
         "DELETE FROM idempotency WHERE rowid IN (SELECT rowid FROM idempotency "
         "WHERE created_at <= ?1 ORDER BY created_at LIMIT ?2)"},
    };
    for (const auto& [stmt, sql] : all) {
      auto s = db.Prepare(sql);
      if (!s) return std::move(s).error();
      *stmt = std::move(*s);
    }
    return Ok{};
  }
};

Writer::Writer(Db db, const domain::Clock& clock)
    : db_(std::move(db)), clock_(clock), st_(std::make_unique<Statements>()) {}

Writer::~Writer() = default;

Result<std::unique_ptr<Writer>> Writer::Open(const SqliteOptions& options,
                                             const domain::Clock& clock) {
  auto db = Db::Open(options.path, options.busy_timeout_ms);
  if (!db) return std::move(db).error();
  if (auto s = Migrate(*db); !s) return std::move(s).error();
  if (options.pipelined_sync) {
    // The WAL is fsynced by the store's sync thread before any answer.
    if (auto s = db->Exec("PRAGMA synchronous=NORMAL"); !s) return std::move(s).error();
  }
  std::unique_ptr<Writer> w(new Writer(std::move(*db), clock));
  if (auto s = w->st_->Prepare(w->db_); !s) return std::move(s).error();
  return w;
}

// ---- Batches ----------------------------------------------------------------

bool Writer::BeginBatch() {
  if (!st_->begin.Run("begin")) return false;
  StmtUse dv(st_->data_version);
  const std::int64_t version = dv->Step() == SQLITE_ROW ? dv->Int(0) : -1;
  if (version != data_version_) DropCaches();  // another connection wrote (invariant 2)
  data_version_ = version;
  return true;
}

void Writer::RollbackBatch() {
  if (sqlite3_get_autocommit(db_.get()) == 0) (void)st_->rollback.Run("rollback");
  DropCaches();
}

bool Writer::RunBatch(std::vector<Command>& cmds, std::vector<WriteOutcome>& outcomes) {
  const std::size_t n = cmds.size();
  const sqlite3_int64 changes_before = sqlite3_total_changes64(db_.get());
  // Commands that failed with an SQL error in an earlier attempt, with that
  // error as their final answer; later attempts leave them out.
  std::vector<std::optional<WriteOutcome>> failed(n);

  for (int attempt = 0; attempt < kBatchAttemptsMax; ++attempt) {
    outcomes.clear();
    outcomes.reserve(n);
    if (!BeginBatch()) {
      RollbackBatch();
      break;
    }
    const Instant now = clock_.Now();
    MaintainCaches(now);

    std::size_t failed_at = n;
    for (std::size_t i = 0; i < n && failed_at == n; ++i) {
      if (failed[i]) {
        outcomes.push_back(*failed[i]);
        continue;
      }
      outcomes.push_back(Execute(cmds[i]));
      if (IsInternal(outcomes.back())) failed_at = i;
    }
    if (failed_at != n) {
      // The command may have written part of its rows: undo the whole
      // transaction and run the batch again without it (invariant 4).
      failed[failed_at] = std::move(outcomes[failed_at]);
      RollbackBatch();
      continue;
    }

    bool swept = true;
    if (now - last_idempotency_sweep_ >= 1) {
      last_idempotency_sweep_ = now;
      StmtUse s(st_->idem_sweep);
      s->BindInt(1, now - kIdempotencyTtl_s);
      s->BindInt(2, kIdempotencySweepMax);
      swept = s->Step() == SQLITE_DONE;
    }
    if (swept && st_->commit.Run("commit")) {
      return sqlite3_total_changes64(db_.get()) != changes_before;
    }
    RollbackBatch();
    break;
  }

  // Nothing of this batch is durable: every command may be retried.
  outcomes.clear();
  for (std::size_t i = 0; i < n; ++i) {
    outcomes.push_back(failed[i]
                           ? std::move(*failed[i])
                           : WriteOutcome{Error::Overloaded("the database could not commit; retry "
                                                            "later"),
                                          std::nullopt});
  }
  return false;
}

WriteOutcome Writer::Execute(const Command& cmd) {
  const Instant now = clock_.Now();
  WriteOutcome out{std::monostate{}, std::nullopt};  // not an Error until one happens
  if (cmd.idempotency) {
    const Idempotency& idem = *cmd.idempotency;
    StmtUse s(st_->idem_get);
    s->BindText(1, idem.key_id);
    s->BindText(2, idem.key);
    s->BindText(3, cmd.tenant);
    const int rc = s->Step();
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
      out.value = SqlError(db_.get(), "idempotency lookup");
      return out;
    }
    if (rc == SQLITE_ROW && s->Int(6) > now - kIdempotencyTtl_s) {
      if (s->Text(0) == idem.request_hash) {
        out.replay = StoredResponse{static_cast<int>(s->Int(1)), s->Text(2), s->Text(3), s->Text(4),
                                    s->Text(5)};
      } else {
        out.value = MakeError(Errc::kIdempotencyKeyReused,
                              "this Idempotency-Key was already used with a different request");
      }
      return out;
    }
  }

  out = Perform(*this, cmd.tenant, cmd.op, now);
  if (cmd.idempotency && !IsInternal(out)) {
    assert(cmd.render && "a command with an Idempotency-Key needs a renderer");
    const StoredResponse r = cmd.render(out);
    const Idempotency& idem = *cmd.idempotency;
    StmtUse s(st_->idem_put);
    s->BindText(1, cmd.tenant);
    s->BindText(2, idem.key_id);
    s->BindText(3, idem.key);
    s->BindText(4, idem.request_hash);
    s->BindInt(5, r.status);
    s->BindText(6, r.body);
    s->BindText(7, r.content_type);
    s->BindText(8, r.location);
    s->BindText(9, r.etag);
    s->BindInt(10, now);
    if (s->Step() != SQLITE_DONE) out.value = SqlError(db_.get(), "idempotency store");
  }
  return out;
}

// ---- Caches -----------------------------------------------------------------

void Writer::DropCaches() {
  resources_.clear();
  ledgers_.clear();
}

void Writer::MaintainCaches(Instant now) {
  if (resources_.size() > kCachedResourcesMax || ledgers_.size() > kCachedResourcesMax) {
    DropCaches();
  }
  if (now - last_prune_ < kPruneInterval_s) return;
  last_prune_ = now;
  const Instant before = now - kLedgerMargin_s;
  for (auto& [key, cached] : ledgers_) {
    cached.ledger.Prune(before, now);
    cached.horizon = std::max(cached.horizon, before);
  }
}

Result<const Resource*> Writer::FindResource(const std::string& tenant, const std::string& id) {
  std::string key = CacheKey(tenant, id);
  if (auto it = resources_.find(key); it != resources_.end()) return &it->second;

  StmtUse s(st_->resource_get);
  s->BindText(1, tenant);
  s->BindText(2, id);
  const int rc = s->Step();
  if (rc == SQLITE_DONE) return static_cast<const Resource*>(nullptr);
  if (rc != SQLITE_ROW) return SqlError(db_.get(), "load resource");
  auto r = ResourceFromRow(*s, tenant);
  if (!r) return std::move(r).error();
  auto [it, inserted] = resources_.emplace(std::move(key), std::move(*r));
  return &it->second;
}

Status Writer::LoadUsages(const std::string& tenant, const std::string& id, Instant end_after,
                          domain::Ledger& into) {
  StmtUse s(st_->usages_load);
  s->BindText(1, tenant);
  s->BindText(2, id);
  s->BindInt(3, end_after);
  int rc;
  while ((rc = s->Step()) == SQLITE_ROW) {
    const bool held = s->Text(4) == "held";
    const Instant expires = held ? s->OptInt(5).value_or(0) : kForever;
    into.Add(s->Text(0), domain::Usage{s->Int(1), s->Int(2), s->Int(3), expires});
  }
  if (rc != SQLITE_DONE) return SqlError(db_.get(), "load usages");
  return Ok{};
}

Result<Writer::CachedLedger*> Writer::LedgerFor(const std::string& tenant, const std::string& id,
                                                Instant now) {
  std::string key = CacheKey(tenant, id);
  if (auto it = ledgers_.find(key); it != ledgers_.end()) return &it->second;
  CachedLedger fresh;
  fresh.horizon = now - kLedgerMargin_s;
  if (auto s = LoadUsages(tenant, id, fresh.horizon, fresh.ledger); !s) {
    return std::move(s).error();
  }
  auto [it, inserted] = ledgers_.emplace(std::move(key), std::move(fresh));
  return &it->second;
}

Writer::CachedLedger* Writer::CachedLedgerOrNull(const std::string& tenant, const std::string& id) {
  auto it = ledgers_.find(CacheKey(tenant, id));
  return it == ledgers_.end() ? nullptr : &it->second;
}

// ---- Resources --------------------------------------------------------------

Result<Resource> Writer::CreateResourceOp(const std::string& tenant, const CreateResource& c,
                                          Instant now) {
  Resource r = c.resource;
  r.tenant = tenant;
  if (r.id.empty()) r.id = NewId("r_", 10);
  if (r.capacity < 1) return Error::Validation("/capacity", "must be at least 1");

  auto existing = FindResource(tenant, r.id);
  if (!existing) return std::move(existing).error();
  if (*existing != nullptr) {
    return MakeError(Errc::kConflict, "a resource with id '" + r.id + "' already exists");
  }

  r.version = 1;
  r.created_at = now;
  r.updated_at = now;
  const std::optional<std::string> hours =
      r.hours ? std::optional<std::string>(EncodeHours(*r.hours)) : std::nullopt;
  const std::string closures = EncodeClosures(r.closures);
  {
    StmtUse s(st_->resource_insert);
    BindResource(*s, r, hours, closures);
    if (s->Step() != SQLITE_DONE) return SqlError(db_.get(), "insert resource");
  }
  resources_[CacheKey(tenant, r.id)] = r;
  return r;
}

Result<Resource> Writer::PatchResourceOp(const std::string& tenant, const PatchResource& c,
                                         Instant now) {
  auto found = FindResource(tenant, c.id);
  if (!found) return std::move(found).error();
  if (*found == nullptr) return MakeError(Errc::kNotFound, "no resource with id '" + c.id + "'");
  const Resource& current = **found;
  if (auto s = domain::CheckVersion(current, c.if_match); !s) return std::move(s).error();
  auto patched = domain::ApplyPatch(current, c.patch, now);
  if (!patched) return patched;
  if (patched->capacity < current.capacity) {
    // The ledger is loaded only for this: most patches leave capacity alone.
    auto ledger = LedgerFor(tenant, c.id, now);
    if (!ledger) return std::move(ledger).error();
    if (auto s = domain::CheckCapacityFloor((*ledger)->ledger, patched->capacity, now); !s) {
      return std::move(s).error();
    }
  }
  const Resource& r = *patched;

  const std::optional<std::string> hours =
      r.hours ? std::optional<std::string>(EncodeHours(*r.hours)) : std::nullopt;
  const std::string closures = EncodeClosures(r.closures);
  {
    StmtUse s(st_->resource_update);
    BindResource(*s, r, hours, closures);
    if (s->Step() != SQLITE_DONE) return SqlError(db_.get(), "update resource");
  }
  resources_[CacheKey(tenant, r.id)] = r;
  return r;
}

Status Writer::DeleteResourceOp(const std::string& tenant, const DeleteResource& c, Instant now) {
  auto found = FindResource(tenant, c.id);
  if (!found) return std::move(found).error();
  if (*found == nullptr) return MakeError(Errc::kNotFound, "no resource with id '" + c.id + "'");
  if (c.if_match) {
    if (auto s = domain::CheckVersion(**found, *c.if_match); !s) return std::move(s).error();
  }
  auto ledger = LedgerFor(tenant, c.id, now);
  if (!ledger) return std::move(ledger).error();
  if (auto s = domain::CheckRemovable((*ledger)->ledger, now); !s) return std::move(s).error();
  {
    StmtUse s(st_->resource_delete);
    s->BindText(1, tenant);
    s->BindText(2, c.id);
    if (s->Step() != SQLITE_DONE) return SqlError(db_.get(), "delete resource");
  }
  const std::string key = CacheKey(tenant, c.id);
  resources_.erase(key);
  ledgers_.erase(key);
  return Ok{};
}

// ---- Bookings ---------------------------------------------------------------

Status Writer::PrepareItems(const std::string& tenant, const std::vector<domain::Item>& items,
                            Instant now, ItemCheck& check) {
  const auto find = [this, &tenant](const std::string& id) { return FindResource(tenant, id); };
  if (auto s = domain::ResolveItems(items, find, check.resources); !s) return s;
  const std::size_t n = items.size();
  check.ledgers.assign(n, nullptr);

  // All items on one resource share one ledger: the cached one, or, when any
  // of them starts before its horizon, one loaded from the database.
  for (std::size_t i = 0; i < n; ++i) {
    if (check.ledgers[i] != nullptr) continue;
    const std::string& rid = items[i].resource_id;
    auto cached = LedgerFor(tenant, rid, now);
    if (!cached) return std::move(cached).error();
    Instant min_start = items[i].start;
    for (std::size_t j = i + 1; j < n; ++j) {
      if (items[j].resource_id == rid) min_start = std::min(min_start, items[j].start);
    }
    const domain::Ledger* ledger = &(*cached)->ledger;
    if (min_start < (*cached)->horizon) {
      auto scratch = std::make_unique<domain::Ledger>();
      if (auto s = LoadUsages(tenant, rid, min_start, *scratch); !s) return s;
      ledger = scratch.get();
      check.scratch.push_back(std::move(scratch));
    }
    for (std::size_t j = i; j < n; ++j) {
      if (items[j].resource_id == rid) check.ledgers[j] = ledger;
    }
  }
  return Ok{};
}

Status Writer::InsertItems(const std::string& tenant, std::int64_t seq,
                           const std::vector<domain::Item>& items) {
  for (std::size_t i = 0; i < items.size(); ++i) {
    StmtUse s(st_->item_insert);
    s->BindInt(1, seq);
    s->BindInt(2, static_cast<std::int64_t>(i));
    s->BindText(3, tenant);
    s->BindText(4, items[i].resource_id);
    s->BindInt(5, items[i].start);
    s->BindInt(6, items[i].end);
    s->BindInt(7, items[i].quantity);
    if (s->Step() != SQLITE_DONE) return SqlError(db_.get(), "insert booking item");
  }
  return Ok{};
}

Result<Booking> Writer::CreateBookingOp(const std::string& tenant, const CreateBooking& c,
                                        Instant now) {
  ItemCheck check;
  if (auto s = PrepareItems(tenant, c.items, now, check); !s) return std::move(s).error();
  if (auto s = domain::CheckItems(check.resources, check.ledgers, c.items, now); !s) {
    return std::move(s).error();
  }

  Booking b = domain::NewBooking(tenant, NewOrderedId("bk_", now, 8), c.items, c.customer,
                                 c.metadata_json, c.hold_seconds, now);
  {
    StmtUse s(st_->booking_insert);
    s->BindText(1, tenant);
    s->BindText(2, b.id);
    s->BindText(3, StoredStatusName(b.status));
    s->BindOptText(4, b.customer);
    s->BindText(5, b.metadata_json);
    s->BindOptInt(6, b.expires_at);
    s->BindInt(7, b.version);
    s->BindInt(8, b.created_at);
    s->BindInt(9, b.updated_at);
    if (s->Step() != SQLITE_DONE) return SqlError(db_.get(), "insert booking");
  }
  b.seq = sqlite3_last_insert_rowid(db_.get());
  if (auto s = InsertItems(tenant, b.seq, b.items); !s) return std::move(s).error();

  // The SQL succeeded: now, and only now, the ledgers learn the booking.
  for (const domain::Item& it : b.items) {
    CachedLedger* l = CachedLedgerOrNull(tenant, it.resource_id);
    assert(l != nullptr && "PrepareItems loads every item's ledger");
    l->ledger.Add(b.id, UsageOf(b, it));
  }
  return b;
}

Result<Booking> Writer::LoadBooking(const std::string& tenant, const std::string& id) {
  Result<Booking> b = MakeError(Errc::kNotFound, "no booking with id '" + id + "'");
  {
    StmtUse s(st_->booking_get);
    s->BindText(1, tenant);
    s->BindText(2, id);
    const int rc = s->Step();
    if (rc == SQLITE_DONE) return b;
    if (rc != SQLITE_ROW) return SqlError(db_.get(), "load booking");
    b = BookingFromRow(*s, tenant);
    if (!b) return b;
  }
  StmtUse s(st_->items_get);
  s->BindInt(1, b->seq);
  int rc;
  while ((rc = s->Step()) == SQLITE_ROW) b->items.push_back(ItemFromRow(*s));
  if (rc != SQLITE_DONE) return SqlError(db_.get(), "load booking items");
  return b;
}

Status Writer::UpdateBookingRow(const Booking& b) {
  StmtUse s(st_->booking_update);
  s->BindInt(1, b.seq);
  s->BindText(2, StoredStatusName(b.status));
  s->BindOptText(3, b.customer);
  s->BindText(4, b.metadata_json);
  s->BindOptInt(5, b.expires_at);
  s->BindInt(6, b.version);
  s->BindInt(7, b.updated_at);
  if (s->Step() != SQLITE_DONE) return SqlError(db_.get(), "update booking");
  return Ok{};
}

Result<Booking> Writer::PatchBookingOp(const std::string& tenant, const PatchBooking& c,
                                       Instant now) {
  auto loaded = LoadBooking(tenant, c.id);
  if (!loaded) return loaded;
  Booking& b = *loaded;
  if (auto s = domain::CheckVersion(b, c.if_match); !s) return std::move(s).error();
  if (auto s = domain::CheckPatchable(b, now); !s) return std::move(s).error();

  const std::vector<domain::Item> old_items = b.items;
  if (c.patch.items) {
    ItemCheck check;
    if (auto s = PrepareItems(tenant, *c.patch.items, now, check); !s) {
      return std::move(s).error();
    }
    // Check as if this booking's own items were released: take them out of
    // every ledger the check reads, then put them back whatever the answer.
    std::vector<domain::Ledger*> touched;
    for (const domain::Item& it : *c.patch.items) {
      CachedLedger* l = CachedLedgerOrNull(tenant, it.resource_id);
      if (l != nullptr && std::find(touched.begin(), touched.end(), &l->ledger) == touched.end()) {
        touched.push_back(&l->ledger);
      }
    }
    for (domain::Ledger* l : touched) l->Remove(b.id);
    for (auto& scratch : check.scratch) scratch->Remove(b.id);
    Status fits = domain::CheckItems(check.resources, check.ledgers, *c.patch.items, now);
    for (const domain::Item& it : old_items) {
      CachedLedger* l = CachedLedgerOrNull(tenant, it.resource_id);
      if (l != nullptr && std::find(touched.begin(), touched.end(), &l->ledger) != touched.end()) {
        l->ledger.Add(b.id, UsageOf(b, it));
      }
    }
    if (!fits) return std::move(fits).error();
    b.items = *c.patch.items;
  }
  if (c.patch.customer) b.customer = *c.patch.customer;
  if (c.patch.metadata_json) b.metadata_json = *c.patch.metadata_json;
  b.version += 1;
  b.updated_at = now;

  if (auto s = UpdateBookingRow(b); !s) return std::move(s).error();
  if (c.patch.items) {
    StmtUse del(st_->items_delete);
    del->BindInt(1, b.seq);
    if (del->Step() != SQLITE_DONE) return SqlError(db_.get(), "delete booking items");
    if (auto s = InsertItems(tenant, b.seq, b.items); !s) return std::move(s).error();

    for (const domain::Item& it : old_items) {
      if (CachedLedger* l = CachedLedgerOrNull(tenant, it.resource_id)) l->ledger.Remove(b.id);
    }
    for (const domain::Item& it : b.items) {
      if (CachedLedger* l = CachedLedgerOrNull(tenant, it.resource_id)) l->ledger.Remove(b.id);
    }
    for (const domain::Item& it : b.items) {
      if (CachedLedger* l = CachedLedgerOrNull(tenant, it.resource_id)) {
        l->ledger.Add(b.id, UsageOf(b, it));
      }
    }
  }
  return b;
}

Result<Booking> Writer::TransitionOp(const std::string& tenant, const TransitionBooking& c,
                                     Instant now) {
  auto loaded = LoadBooking(tenant, c.id);
  if (!loaded) return loaded;
  Booking& b = *loaded;
  // If-Match is a precondition: it is checked before the transition rules.
  if (c.if_match) {
    if (auto s = domain::CheckVersion(b, *c.if_match); !s) return std::move(s).error();
  }
  auto effect = domain::ApplyTransition(b, c.transition, now);
  if (!effect) return std::move(effect).error();
  if (*effect == domain::TransitionEffect::kAlreadyThere) return b;
  if (auto s = UpdateBookingRow(b); !s) return std::move(s).error();

  for (const domain::Item& it : b.items) {
    CachedLedger* l = CachedLedgerOrNull(tenant, it.resource_id);
    if (l == nullptr) continue;
    if (b.status == domain::BookingStatus::kConfirmed) {
      l->ledger.SetExpiry(b.id, kForever);
    } else {
      l->ledger.Remove(b.id);
    }
  }
  return b;
}

}  // namespace bookd::storage
