#include "storage/pg_writer.h"

#include <algorithm>
#include <cassert>
#include <map>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "domain/availability.h"
#include "domain/ledger.h"
#include "domain/lifecycle.h"
#include "domain/resource_rules.h"
#include "storage/codec.h"
#include "storage/ids.h"
#include "storage/perform.h"
#include "storage/pg_rows.h"

namespace bookd::storage {
namespace {

using domain::Instant;
using domain::Interval;
using domain::kForever;

constexpr Instant kIdempotencyTtl_s = 86400;
constexpr std::int64_t kIdempotencySweepMax = 256;
// A batch is tried at most this often: again after a deadlock or a
// serialization failure, or once more on a fresh connection when the old one
// broke before COMMIT was sent.
constexpr int kAttemptsMax = 3;
// Holds that ran out more than this before the batch began are not loaded;
// the slack covers a clock that steps back a little between two batches.
constexpr Instant kClockSlack_s = 3600;
// Ensure() rounds per command; each round locks or loads something new, so
// a well-formed command needs at most two.
constexpr int kEnsureRoundsMax = 4;
// Separate spans kept per resource ledger (see Res).
constexpr std::size_t kSpansMax = 32;

const std::string kResourceCols = kPgResourceColumns;
const std::string kBookingCols = kPgBookingColumns;

const PgSql kBegin{"w_begin", "BEGIN"};
const PgSql kCommit{"w_commit", "COMMIT"};
// Claims the keys in one fixed order (byte order), like every other host.
const PgSql kIdemClaim{
    "w_idem_claim",
    "INSERT INTO idempotency (tenant, key_id, key, request_hash, status, body, content_type, "
    "location, etag, created_at) "
    "SELECT u.t, u.kid, u.k, u.h, 0, '', '', '', '', $5 "
    "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(t, kid, k, h) "
    "ORDER BY u.kid COLLATE \"C\", u.k COLLATE \"C\" "
    "ON CONFLICT (key_id, key) DO NOTHING RETURNING key_id, key"};
const PgSql kIdemRead{
    "w_idem_read",
    "SELECT i.key_id, i.key, i.request_hash, i.status, i.body, i.content_type, i.location, "
    "i.etag, i.created_at FROM idempotency i "
    "JOIN unnest($1::text[], $2::text[]) AS u(kid, k) ON i.key_id = u.kid AND i.key = u.k"};
const PgSql kIdemReclaim{
    "w_idem_reclaim",
    "UPDATE idempotency SET tenant = $3, request_hash = $4, status = 0, body = '', "
    "content_type = '', location = '', etag = '', created_at = $5 "
    "WHERE key_id = $1 AND key = $2 AND created_at <= $6 RETURNING 1"};
const PgSql kIdemStore{
    "w_idem_store",
    "UPDATE idempotency i SET status = u.st, body = u.body, content_type = u.ct, "
    "location = u.loc, etag = u.etag "
    "FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[], "
    "$7::text[]) AS u(kid, k, st, body, ct, loc, etag) WHERE i.key_id = u.kid AND i.key = u.k"};
const PgSql kIdemDrop{"w_idem_drop",
                      "DELETE FROM idempotency i USING unnest($1::text[], $2::text[]) AS u(kid, k) "
                      "WHERE i.key_id = u.kid AND i.key = u.k"};
const PgSql kIdemSweep{
    "w_idem_sweep",
    "DELETE FROM idempotency WHERE ctid = ANY(ARRAY(SELECT ctid FROM idempotency "
    "WHERE created_at <= $1 ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED))"};

const PgSql kLockResources{
    "w_lock_resources",
    "SELECT r.tenant, " + kResourceCols +
        ", r.max_item_s FROM resources r JOIN unnest($1::text[], $2::text[]) AS u(t, id) "
        "ON r.tenant = u.t AND r.id = u.id ORDER BY r.tenant, r.id FOR UPDATE OF r"};
// Locking and reading are two statements: the read, a statement of its own,
// sees what was committed while we waited for the locks (items included).
const PgSql kLockBookings{"w_lock_bookings",
                          "SELECT b.seq FROM bookings b JOIN unnest($1::text[], $2::text[]) "
                          "AS u(t, id) ON b.tenant = u.t AND b.id = u.id "
                          "ORDER BY b.seq FOR UPDATE OF b"};
const PgSql kReadBookings{"w_read_bookings",
                          "SELECT b.tenant, " + kBookingCols +
                              " FROM bookings b JOIN unnest($1::text[], $2::text[]) AS u(t, id) "
                              "ON b.tenant = u.t AND b.id = u.id"};
const PgSql kNextSeqs{"w_next_seqs",
                      "SELECT nextval('bookings_seq') FROM generate_series(1, $1::int)"};
// Cancelled bookings never count again; held ones are kept unless they ran
// out well before the batch (kClockSlack_s), so the ledger decides expiry.
// The items are a LATERAL subquery behind OFFSET 0 so that the generic plan
// of this prepared statement always scans the index range [s - longest, e)
// of each resource; as a plain join it may fetch every item of the resource
// and filter afterwards. A resource may come with several spans, whose
// items may overlap: DISTINCT ON returns each item once.
const PgSql kUsages{
    "w_usages",
    "SELECT DISTINCT ON (u.t, u.id, i.booking_seq, i.idx) "
    "u.t, u.id, b.id, i.start_at, i.end_at, i.quantity, b.status, b.expires_at "
    "FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS u(t, id, s, e) "
    "JOIN resources r ON r.tenant = u.t AND r.id = u.id "
    "CROSS JOIN LATERAL (SELECT i.booking_seq, i.idx, i.start_at, i.end_at, i.quantity "
    "FROM booking_items i WHERE i.tenant = u.t AND i.resource_id = u.id "
    "AND i.start_at >= u.s - r.max_item_s AND i.start_at < u.e AND i.end_at > u.s OFFSET 0) i "
    "JOIN bookings b ON b.seq = i.booking_seq "
    "WHERE b.status = 'confirmed' OR (b.status = 'held' AND b.expires_at > $5)"};

const PgSql kInsertBookings{
    "w_insert_bookings",
    "INSERT INTO bookings (seq, tenant, id, status, customer, metadata_json, expires_at, "
    "version, created_at, updated_at) SELECT * FROM unnest($1::bigint[], $2::text[], "
    "$3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[], "
    "$10::bigint[])"};
const PgSql kInsertItems{
    "w_insert_items",
    "INSERT INTO booking_items (booking_seq, idx, tenant, resource_id, start_at, end_at, "
    "quantity) SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], "
    "$5::bigint[], $6::bigint[], $7::bigint[])"};
const PgSql kUpdateBookings{
    "w_update_bookings",
    "UPDATE bookings b SET status = u.status, customer = u.customer, metadata_json = u.meta, "
    "expires_at = u.exp, version = u.version, updated_at = u.updated "
    "FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], "
    "$7::bigint[]) AS u(seq, status, customer, meta, exp, version, updated) WHERE b.seq = u.seq"};
const PgSql kRaiseMaxItem{"w_raise_max_item",
                          "UPDATE resources r SET max_item_s = greatest(r.max_item_s, u.m) "
                          "FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(t, id, m) "
                          "WHERE r.tenant = u.t AND r.id = u.id"};
const PgSql kDeleteItems{"w_delete_items",
                         "DELETE FROM booking_items WHERE booking_seq = ANY($1::bigint[])"};

const PgSql kResourceInsert{
    "w_resource_insert",
    "INSERT INTO resources (tenant, id, name, capacity, timezone, hours_json, closures_json, "
    "metadata_json, version, created_at, updated_at, max_item_s) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, (SELECT coalesce(max(end_at - "
    "start_at), 0) FROM booking_items WHERE tenant = $1 AND resource_id = $2)) "
    "ON CONFLICT (tenant, id) DO NOTHING"};
const PgSql kResourceUpdate{
    "w_resource_update",
    "UPDATE resources SET name = $3, capacity = $4, timezone = $5, hours_json = $6, "
    "closures_json = $7, metadata_json = $8, version = $9, created_at = $10, updated_at = $11 "
    "WHERE tenant = $1 AND id = $2"};
const PgSql kResourceDelete{"w_resource_delete",
                            "DELETE FROM resources WHERE tenant = $1 AND id = $2"};

bool Covers(const std::vector<Interval>& loaded, Interval span) {
  for (const Interval& l : loaded) {
    if (l.start <= span.start && span.end <= l.end) return true;
  }
  return false;
}

// Sorts and merges overlapping or touching spans; past kSpansMax spans the
// list becomes its union, which bounds the usage query's size.
void Normalize(std::vector<Interval>& spans) {
  std::sort(spans.begin(), spans.end(),
            [](const Interval& a, const Interval& b) { return a.start < b.start; });
  std::vector<Interval> out;
  for (const Interval& s : spans) {
    if (!out.empty() && s.start <= out.back().end) {
      out.back().end = std::max(out.back().end, s.end);
    } else {
      out.push_back(s);
    }
  }
  if (out.size() > kSpansMax) out = {Interval{out.front().start, out.back().end}};
  spans = std::move(out);
}

std::string Key(const std::string& tenant, const std::string& id) {
  std::string key;
  key.reserve(tenant.size() + 1 + id.size());
  key += tenant;
  key += '\0';
  key += id;
  return key;
}

bool IsInternal(const WriteOutcome& out) {
  const auto* e = std::get_if<Error>(&out.value);
  return e != nullptr && e->code == Errc::kInternal;
}

domain::Usage UsageOf(const Booking& b, const domain::Item& it) {
  const Instant expires =
      b.status == domain::BookingStatus::kHeld && b.expires_at ? *b.expires_at : kForever;
  return domain::Usage{it.start, it.end, it.quantity, expires};
}

PgParams ResourceParams(const Resource& r) {
  return {r.tenant,
          r.id,
          r.name,
          std::to_string(r.capacity),
          r.timezone,
          r.hours ? std::optional<std::string>(EncodeHours(*r.hours)) : std::nullopt,
          EncodeClosures(r.closures),
          r.metadata_json,
          std::to_string(r.version),
          std::to_string(r.created_at),
          std::to_string(r.updated_at)};
}

// A resource (or its absence) as this transaction sees it: locked when it
// exists, with a ledger holding every counting usage overlapping `loaded`.
// Spans are kept apart (a batch's items on one resource may lie months
// apart: their union could hold thousands of bookings that matter to none).
struct Res {
  bool exists = false;
  Resource r;
  domain::Ledger ledger;
  std::vector<Interval> loaded;  // sorted, disjoint; empty: nothing loaded yet
  std::int64_t max_item_s = 0;
};

// A booking locked by this transaction, in its current (maybe changed) state.
struct Bk {
  Booking b;
  bool row_dirty = false;
  bool items_dirty = false;
};

// What one resource needs: locked, and its ledger covering `span`.
struct Need {
  std::string tenant;
  std::string id;
  Interval span;
};

enum class IdemState { kNone, kClaimed, kDone };

}  // namespace

// One attempt at one batch. Stages, each one pipeline (one round trip):
//   Start:  BEGIN, claim idempotency keys, lock resources and bookings in
//           fixed order, read them, reserve booking seqs, load usages;
//   decide: every command in order, in memory (rare commands add a round
//           trip: resource changes, items reaching outside what was loaded);
//   Finish: multi-row INSERT/UPDATE of everything decided, idempotency
//           answers, COMMIT.
class PgWriter::Batch {
 public:
  Batch(PgConn& conn, const domain::Clock& clock, std::vector<Command>& cmds,
        std::vector<WriteOutcome>& outcomes)
      : conn_(conn), clock_(clock), cmds_(cmds), outcomes_(outcomes) {}

  Status Run(bool sweep);
  bool commit_sent() const { return commit_sent_; }

 private:
  Status Start();
  Status ClaimKeys(std::vector<PgQuery>& queries, std::size_t& claim_at);
  Status ReadClaims(const std::vector<PgResult>& results, std::size_t claim_at);
  // Locks and loads whatever of `needs` and `booking_ids` is missing, after
  // writing what is pending, in one pipeline that follows `prefix`.
  Status Ensure(const std::vector<Need>& needs,
                const std::vector<std::pair<std::string, std::string>>& booking_ids,
                std::vector<PgQuery> prefix = {}, std::vector<PgResult>* prefix_results = nullptr);
  Status NeedItems(const std::string& tenant, const std::vector<domain::Item>& items);
  void AppendPending(std::vector<PgQuery>& queries);
  void ClearPending();
  // Raises the resource's max_item_s in memory and, at the next write, in
  // the database, so that usage loads keep finding the item.
  void NoteItemLengths(const std::string& tenant, const std::vector<domain::Item>& items);
  Status FlushPending();

  WriteOutcome Execute(const Command& cmd);
  template <class W>
  friend WriteOutcome Perform(W& w, const std::string& tenant, const Operation& op, Instant now);
  Result<Resource> CreateResourceOp(const std::string& tenant, const CreateResource& c,
                                    Instant now);
  Result<Resource> PatchResourceOp(const std::string& tenant, const PatchResource& c, Instant now);
  Status DeleteResourceOp(const std::string& tenant, const DeleteResource& c, Instant now);
  Result<Booking> CreateBookingOp(const std::string& tenant, const CreateBooking& c, Instant now);
  Result<Booking> PatchBookingOp(const std::string& tenant, const PatchBooking& c, Instant now);
  Result<Booking> TransitionOp(const std::string& tenant, const TransitionBooking& c, Instant now);
  Status PrepareItems(const std::string& tenant, const std::vector<domain::Item>& items,
                      std::vector<const Resource*>& resources,
                      std::vector<const domain::Ledger*>& ledgers);
  Res* FindRes(const std::string& tenant, const std::string& id);
  // Records an SQL failure: the batch ends and is rolled back.
  Error Fail(Error e) {
    if (!sql_error_) sql_error_ = e;
    return e;
  }

  PgConn& conn_;
  const domain::Clock& clock_;
  std::vector<Command>& cmds_;
  std::vector<WriteOutcome>& outcomes_;
  Instant start_ = 0;
  bool commit_sent_ = false;
  std::optional<Error> sql_error_;

  std::unordered_map<std::string, Res> res_;
  std::unordered_map<std::string, Bk> bookings_;
  std::vector<std::int64_t> seqs_;  // reserved for this batch's new bookings
  std::size_t next_seq_ = 0;
  std::vector<IdemState> idem_;

  // Decided but not yet written.
  std::vector<Booking> new_bookings_;
  std::vector<std::string> dirty_;  // keys of bookings_, in first-change order
  // Resources whose max_item_s grew: tenant, id, new value.
  std::vector<std::tuple<std::string, std::string, std::int64_t>> raised_;
  // Idempotency rows to complete or to give back.
  std::vector<std::pair<const Idempotency*, StoredResponse>> idem_store_;
  std::vector<const Idempotency*> idem_drop_;
};

Status PgWriter::Batch::Run(bool sweep) {
  outcomes_.assign(cmds_.size(), WriteOutcome{std::monostate{}, std::nullopt});
  if (auto s = Start(); !s) return s;

  for (std::size_t i = 0; i < cmds_.size(); ++i) {
    const Command& cmd = cmds_[i];
    if (idem_[i] == IdemState::kDone) continue;
    WriteOutcome out = Execute(cmd);
    if (sql_error_) return *sql_error_;
    if (idem_[i] == IdemState::kClaimed) {
      if (IsInternal(out)) {
        idem_drop_.push_back(&*cmd.idempotency);
      } else {
        assert(cmd.render && "a command with an Idempotency-Key needs a renderer");
        idem_store_.emplace_back(&*cmd.idempotency, cmd.render(out));
      }
    }
    outcomes_[i] = std::move(out);
  }

  std::vector<PgQuery> finish;
  AppendPending(finish);
  if (!idem_store_.empty()) {
    std::vector<std::string_view> kid, key, body, ct, loc, etag;
    std::vector<std::int64_t> status;
    for (const auto& [idem, r] : idem_store_) {
      kid.push_back(idem->key_id);
      key.push_back(idem->key);
      status.push_back(r.status);
      body.push_back(r.body);
      ct.push_back(r.content_type);
      loc.push_back(r.location);
      etag.push_back(r.etag);
    }
    finish.push_back({&kIdemStore,
                      {PgTextArray(kid), PgTextArray(key), PgIntArray(status), PgTextArray(body),
                       PgTextArray(ct), PgTextArray(loc), PgTextArray(etag)}});
  }
  if (!idem_drop_.empty()) {
    std::vector<std::string_view> kid, key;
    for (const Idempotency* idem : idem_drop_) {
      kid.push_back(idem->key_id);
      key.push_back(idem->key);
    }
    finish.push_back({&kIdemDrop, {PgTextArray(kid), PgTextArray(key)}});
  }
  if (sweep) {
    finish.push_back(
        {&kIdemSweep,
         {std::to_string(start_ - kIdempotencyTtl_s), std::to_string(kIdempotencySweepMax)}});
  }
  finish.push_back({&kCommit, {}});
  commit_sent_ = true;
  auto done = conn_.Run(finish);
  if (!done) return std::move(done).error();
  return Ok{};
}

Status PgWriter::Batch::Start() {
  start_ = clock_.Now();
  idem_.assign(cmds_.size(), IdemState::kNone);

  std::vector<PgQuery> first;
  first.push_back({&kBegin, {}});
  std::size_t claim_at = 0;
  if (auto s = ClaimKeys(first, claim_at); !s) return s;

  // What every command needs locked. A confirm's resources are those of the
  // booking's items: read them first (unlocked), then lock in fixed order.
  std::vector<Need> needs;
  std::vector<std::pair<std::string, std::string>> booking_ids;
  std::vector<std::pair<std::string, std::string>> confirm_ids;
  std::size_t creates = 0;
  for (const Command& cmd : cmds_) {
    const std::string& t = cmd.tenant;
    std::visit(
        [&](const auto& c) {
          using T = std::decay_t<decltype(c)>;
          if constexpr (std::is_same_v<T, CreateBooking>) {
            ++creates;
            for (const auto& it : c.items) needs.push_back({t, it.resource_id, {it.start, it.end}});
          } else if constexpr (std::is_same_v<T, PatchBooking>) {
            booking_ids.emplace_back(t, c.id);
            if (c.patch.items) {
              for (const auto& it : *c.patch.items) {
                needs.push_back({t, it.resource_id, {it.start, it.end}});
              }
            }
          } else if constexpr (std::is_same_v<T, TransitionBooking>) {
            booking_ids.emplace_back(t, c.id);
            if (c.transition == Transition::kConfirm) confirm_ids.emplace_back(t, c.id);
          } else if constexpr (std::is_same_v<T, PatchResource> ||
                               std::is_same_v<T, DeleteResource>) {
            needs.push_back({t, c.id, {start_ - kClockSlack_s, kForever}});
          }
        },
        cmd.op);
  }

  std::size_t preload_at = 0;
  if (!confirm_ids.empty()) {
    std::vector<std::string_view> ts, ids;
    for (const auto& [t, id] : confirm_ids) {
      ts.push_back(t);
      ids.push_back(id);
    }
    preload_at = first.size();
    first.push_back({&kReadBookings, {PgTextArray(ts), PgTextArray(ids)}});
    auto r = conn_.Run(first);
    if (!r) return std::move(r).error();
    if (auto s = ReadClaims(*r, claim_at); !s) return s;
    const PgResult& pre = (*r)[preload_at];
    for (int row = 0; row < pre.rows(); ++row) {
      auto b = PgBookingFromRow(pre, row, 1, pre.Text(row, 0));
      if (!b) continue;  // read again, locked, below; a corrupt row fails there
      for (const auto& it : b->items)
        needs.push_back({b->tenant, it.resource_id, {it.start, it.end}});
    }
    first.clear();
  }

  std::vector<PgQuery> prefix = std::move(first);
  std::size_t seqs_at = 0;
  if (creates > 0) {
    seqs_at = prefix.size();
    prefix.push_back({&kNextSeqs, {std::to_string(creates)}});
  }
  std::vector<PgResult> prefix_results;
  if (auto s = Ensure(needs, booking_ids, std::move(prefix), &prefix_results); !s) return s;
  if (confirm_ids.empty()) {
    if (auto s = ReadClaims(prefix_results, claim_at); !s) return s;
  }
  if (creates > 0) {
    const PgResult& seqs = prefix_results[seqs_at];
    for (int row = 0; row < seqs.rows(); ++row) seqs_.push_back(seqs.Int(row, 0));
  }
  return Ok{};
}

Status PgWriter::Batch::ClaimKeys(std::vector<PgQuery>& queries, std::size_t& claim_at) {
  std::vector<std::string_view> t, kid, key, hash;
  for (const Command& cmd : cmds_) {
    if (!cmd.idempotency) continue;
    t.push_back(cmd.tenant);
    kid.push_back(cmd.idempotency->key_id);
    key.push_back(cmd.idempotency->key);
    hash.push_back(cmd.idempotency->request_hash);
  }
  if (kid.empty()) return Ok{};
  claim_at = queries.size();
  std::string kids = PgTextArray(kid), keys = PgTextArray(key);
  queries.push_back(
      {&kIdemClaim, {PgTextArray(t), kids, keys, PgTextArray(hash), std::to_string(start_)}});
  queries.push_back({&kIdemRead, {std::move(kids), std::move(keys)}});
  return Ok{};
}

Status PgWriter::Batch::ReadClaims(const std::vector<PgResult>& results, std::size_t claim_at) {
  if (claim_at == 0) return Ok{};
  const PgResult& claimed = results[claim_at];
  const PgResult& rows = results[claim_at + 1];
  std::unordered_map<std::string, int> claimed_keys, row_of;
  for (int i = 0; i < claimed.rows(); ++i)
    claimed_keys[Key(claimed.Text(i, 0), claimed.Text(i, 1))];
  for (int i = 0; i < rows.rows(); ++i) row_of[Key(rows.Text(i, 0), rows.Text(i, 1))] = i;

  for (std::size_t c = 0; c < cmds_.size(); ++c) {
    const Command& cmd = cmds_[c];
    if (!cmd.idempotency) continue;
    const Idempotency& idem = *cmd.idempotency;
    const std::string key = Key(idem.key_id, idem.key);
    if (claimed_keys.contains(key)) {
      idem_[c] = IdemState::kClaimed;
      continue;
    }
    auto it = row_of.find(key);
    if (it != row_of.end() && rows.Int(it->second, 8) > start_ - kIdempotencyTtl_s) {
      const int i = it->second;
      idem_[c] = IdemState::kDone;
      if (rows.Text(i, 2) != idem.request_hash) {
        outcomes_[c].value = MakeError(Errc::kIdempotencyKeyReused,
                                       "this Idempotency-Key was already used with a different "
                                       "request");
      } else {
        outcomes_[c].replay = StoredResponse{static_cast<int>(rows.Int(i, 3)), rows.Text(i, 4),
                                             rows.Text(i, 5), rows.Text(i, 6), rows.Text(i, 7)};
      }
      continue;
    }
    if (it != row_of.end()) {
      // Older than a day: forgotten; take it over unless someone else just did.
      auto r = conn_.Query(kIdemReclaim,
                           {idem.key_id, idem.key, cmd.tenant, idem.request_hash,
                            std::to_string(start_), std::to_string(start_ - kIdempotencyTtl_s)});
      if (!r) return std::move(r).error();
      if (r->rows() == 1) {
        idem_[c] = IdemState::kClaimed;
        continue;
      }
    }
    // Another host holds it and has not finished (or it vanished meanwhile).
    idem_[c] = IdemState::kDone;
    outcomes_[c].value =
        MakeError(Errc::kConflict, "a request with this Idempotency-Key is still in progress");
  }
  return Ok{};
}

Status PgWriter::Batch::Ensure(const std::vector<Need>& needs,
                               const std::vector<std::pair<std::string, std::string>>& booking_ids,
                               std::vector<PgQuery> prefix, std::vector<PgResult>* prefix_results) {
  // Resources to lock, and the spans each ledger must cover. A ledger that
  // lacks a span is loaded again whole (every span it had, plus the new one),
  // after what is pending was written.
  struct Load {
    const Need* need;
    std::vector<Interval> spans;
  };
  std::map<std::string, const Need*> lock;  // by key; std::map keeps the order stable
  std::map<std::string, Load> load;
  for (const Need& n : needs) {
    std::string key = Key(n.tenant, n.id);
    auto it = res_.find(key);
    if (it == res_.end()) {
      lock.emplace(key, &n);
    } else if (!it->second.exists || Covers(it->second.loaded, n.span)) {
      continue;
    }
    auto [l, fresh] = load.emplace(key, Load{&n, {}});
    if (fresh && it != res_.end()) l->second.spans = it->second.loaded;
    l->second.spans.push_back(n.span);
  }
  for (auto& [key, l] : load) Normalize(l.spans);
  std::vector<std::pair<std::string, std::string>> lock_bookings;
  for (const auto& [t, id] : booking_ids) {
    if (!bookings_.contains(Key(t, id))) lock_bookings.emplace_back(t, id);
  }
  if (lock.empty() && load.empty() && lock_bookings.empty() && prefix.empty()) return Ok{};

  // Whatever this transaction decided so far must be in the database before
  // ledgers are loaded from it.
  std::vector<PgQuery> queries = std::move(prefix);
  const std::size_t prefix_size = queries.size();
  AppendPending(queries);

  std::size_t lock_at = 0, read_at = 0, usages_at = 0;
  if (!lock.empty()) {
    std::vector<std::string_view> ts, ids;
    for (const auto& [key, n] : lock) {
      ts.push_back(n->tenant);
      ids.push_back(n->id);
    }
    lock_at = queries.size();
    queries.push_back({&kLockResources, {PgTextArray(ts), PgTextArray(ids)}});
  }
  if (!lock_bookings.empty()) {
    std::vector<std::string_view> ts, ids;
    for (const auto& [t, id] : lock_bookings) {
      ts.push_back(t);
      ids.push_back(id);
    }
    std::string ts_text = PgTextArray(ts), ids_text = PgTextArray(ids);
    queries.push_back({&kLockBookings, {ts_text, ids_text}});
    read_at = queries.size();
    queries.push_back({&kReadBookings, {std::move(ts_text), std::move(ids_text)}});
  }
  if (!load.empty()) {
    std::vector<std::string_view> ts, ids;
    std::vector<std::int64_t> starts, ends;
    for (const auto& [key, l] : load) {
      for (const Interval& span : l.spans) {
        ts.push_back(l.need->tenant);
        ids.push_back(l.need->id);
        starts.push_back(span.start);
        ends.push_back(span.end);
      }
    }
    usages_at = queries.size();
    queries.push_back({&kUsages,
                       {PgTextArray(ts), PgTextArray(ids), PgIntArray(starts), PgIntArray(ends),
                        std::to_string(start_ - kClockSlack_s)}});
  }

  auto r = conn_.Run(queries);
  if (!r) return std::move(r).error();
  ClearPending();
  if (prefix_results != nullptr) {
    prefix_results->assign(std::make_move_iterator(r->begin()),
                           std::make_move_iterator(r->begin() + static_cast<long>(prefix_size)));
  }

  if (!lock.empty()) {
    const PgResult& rows = (*r)[lock_at];
    for (const auto& [key, n] : lock) res_[key].exists = false;
    for (int i = 0; i < rows.rows(); ++i) {
      auto res = PgResourceFromRow(rows, i, 1, rows.Text(i, 0));
      if (!res) return std::move(res).error();
      Res& slot = res_[Key(res->tenant, res->id)];
      slot.exists = true;
      slot.r = std::move(*res);
      slot.max_item_s = rows.Int(i, 1 + kPgResourceColumnCount);
    }
  }
  if (!lock_bookings.empty()) {
    const PgResult& rows = (*r)[read_at];
    for (int i = 0; i < rows.rows(); ++i) {
      auto b = PgBookingFromRow(rows, i, 1, rows.Text(i, 0));
      if (!b) return std::move(b).error();
      std::string key = Key(b->tenant, b->id);
      bookings_[std::move(key)] = Bk{std::move(*b), false, false};
    }
  }
  if (!load.empty()) {
    for (auto& [key, l] : load) {
      Res& slot = res_[key];
      if (!slot.exists) continue;
      slot.ledger = domain::Ledger();
      slot.loaded = std::move(l.spans);
    }
    const PgResult& rows = (*r)[usages_at];
    for (int i = 0; i < rows.rows(); ++i) {
      auto it = res_.find(Key(rows.Text(i, 0), rows.Text(i, 1)));
      if (it == res_.end() || !it->second.exists) continue;
      const bool held = rows.View(i, 6) == "held";
      it->second.ledger.Add(rows.Text(i, 2),
                            domain::Usage{rows.Int(i, 3), rows.Int(i, 4), rows.Int(i, 5),
                                          held ? rows.OptInt(i, 7).value_or(0) : kForever});
    }
  }
  return Ok{};
}

Status PgWriter::Batch::NeedItems(const std::string& tenant,
                                  const std::vector<domain::Item>& items) {
  std::vector<Need> needs;
  for (const auto& it : items) {
    if (it.start >= it.end) continue;  // refused by validation, nothing to load
    needs.push_back({tenant, it.resource_id, {it.start, it.end}});
  }
  for (int round = 0; round < kEnsureRoundsMax; ++round) {
    bool missing = false;
    for (const Need& n : needs) {
      auto it = res_.find(Key(n.tenant, n.id));
      if (it == res_.end()) {
        missing = true;
        break;
      }
      const Res& r = it->second;
      if (r.exists && !Covers(r.loaded, n.span)) {
        missing = true;
        break;
      }
    }
    if (!missing) return Ok{};
    if (auto s = Ensure(needs, {}); !s) return Fail(std::move(s).error());
  }
  return Fail(MakeError(Errc::kInternal, "storage: could not lock the booking's resources"));
}

void PgWriter::Batch::NoteItemLengths(const std::string& tenant,
                                      const std::vector<domain::Item>& items) {
  for (const domain::Item& it : items) {
    Res* r = FindRes(tenant, it.resource_id);
    if (r == nullptr || it.end - it.start <= r->max_item_s) continue;
    r->max_item_s = it.end - it.start;
    raised_.emplace_back(tenant, it.resource_id, r->max_item_s);
  }
}

void PgWriter::Batch::ClearPending() {
  new_bookings_.clear();
  dirty_.clear();
  raised_.clear();
}

void PgWriter::Batch::AppendPending(std::vector<PgQuery>& queries) {
  if (!raised_.empty()) {
    std::vector<std::string_view> ts, ids;
    std::vector<std::int64_t> lens;
    for (const auto& [t, id, len] : raised_) {
      ts.push_back(t);
      ids.push_back(id);
      lens.push_back(len);
    }
    queries.push_back({&kRaiseMaxItem, {PgTextArray(ts), PgTextArray(ids), PgIntArray(lens)}});
  }
  if (new_bookings_.empty() && dirty_.empty()) return;
  // Items of new bookings and the replaced items of changed ones.
  std::vector<std::int64_t> i_seq, i_idx, i_start, i_end, i_qty;
  std::vector<std::string_view> i_tenant, i_rid;
  auto add_items = [&](const Booking& b) {
    for (std::size_t k = 0; k < b.items.size(); ++k) {
      const auto& it = b.items[k];
      i_seq.push_back(b.seq);
      i_idx.push_back(static_cast<std::int64_t>(k));
      i_tenant.push_back(b.tenant);
      i_rid.push_back(it.resource_id);
      i_start.push_back(it.start);
      i_end.push_back(it.end);
      i_qty.push_back(it.quantity);
    }
  };

  if (!dirty_.empty()) {
    std::vector<std::int64_t> seq, version, updated, replaced;
    std::vector<std::optional<std::int64_t>> exp;
    std::vector<std::string_view> status, meta;
    std::vector<std::optional<std::string_view>> customer;
    for (const std::string& key : dirty_) {
      const Bk& bk = bookings_.at(key);
      const Booking& b = bk.b;
      seq.push_back(b.seq);
      status.push_back(StoredStatusName(b.status));
      customer.push_back(b.customer ? std::optional<std::string_view>(*b.customer) : std::nullopt);
      meta.push_back(b.metadata_json);
      exp.push_back(b.expires_at);
      version.push_back(b.version);
      updated.push_back(b.updated_at);
      if (bk.items_dirty) {
        replaced.push_back(b.seq);
        add_items(b);
      }
    }
    if (!replaced.empty()) queries.push_back({&kDeleteItems, {PgIntArray(replaced)}});
    queries.push_back(
        {&kUpdateBookings,
         {PgIntArray(seq), PgTextArray(status), PgOptTextArray(customer), PgTextArray(meta),
          PgOptIntArray(exp), PgIntArray(version), PgIntArray(updated)}});
    for (const std::string& key : dirty_) {
      Bk& bk = bookings_.at(key);
      bk.row_dirty = false;
      bk.items_dirty = false;
    }
  }
  if (!new_bookings_.empty()) {
    std::vector<std::int64_t> seq, version, created, updated;
    std::vector<std::optional<std::int64_t>> exp;
    std::vector<std::string_view> tenant, id, status, meta;
    std::vector<std::optional<std::string_view>> customer;
    for (const Booking& b : new_bookings_) {
      seq.push_back(b.seq);
      tenant.push_back(b.tenant);
      id.push_back(b.id);
      status.push_back(StoredStatusName(b.status));
      customer.push_back(b.customer ? std::optional<std::string_view>(*b.customer) : std::nullopt);
      meta.push_back(b.metadata_json);
      exp.push_back(b.expires_at);
      version.push_back(b.version);
      created.push_back(b.created_at);
      updated.push_back(b.updated_at);
      add_items(b);
    }
    queries.push_back({&kInsertBookings,
                       {PgIntArray(seq), PgTextArray(tenant), PgTextArray(id), PgTextArray(status),
                        PgOptTextArray(customer), PgTextArray(meta), PgOptIntArray(exp),
                        PgIntArray(version), PgIntArray(created), PgIntArray(updated)}});
  }
  if (!i_seq.empty()) {
    queries.push_back(
        {&kInsertItems,
         {PgIntArray(i_seq), PgIntArray(i_idx), PgTextArray(i_tenant), PgTextArray(i_rid),
          PgIntArray(i_start), PgIntArray(i_end), PgIntArray(i_qty)}});
  }
  // The caller clears new_bookings_ and dirty_ once the queries ran.
}

Status PgWriter::Batch::FlushPending() {
  if (new_bookings_.empty() && dirty_.empty() && raised_.empty()) return Ok{};
  std::vector<PgQuery> queries;
  AppendPending(queries);
  auto r = conn_.Run(queries);
  if (!r) return Fail(std::move(r).error());
  ClearPending();
  return Ok{};
}

Res* PgWriter::Batch::FindRes(const std::string& tenant, const std::string& id) {
  auto it = res_.find(Key(tenant, id));
  return it == res_.end() || !it->second.exists ? nullptr : &it->second;
}

WriteOutcome PgWriter::Batch::Execute(const Command& cmd) {
  return Perform(*this, cmd.tenant, cmd.op, clock_.Now());
}

// ---- Resources --------------------------------------------------------------

Result<Resource> PgWriter::Batch::CreateResourceOp(const std::string& tenant,
                                                   const CreateResource& c, Instant now) {
  Resource r = c.resource;
  r.tenant = tenant;
  if (r.id.empty()) r.id = NewId("r_", 10);
  if (r.capacity < 1) return Error::Validation("/capacity", "must be at least 1");
  const std::string key = Key(tenant, r.id);
  if (FindRes(tenant, r.id) != nullptr) {
    return MakeError(Errc::kConflict, "a resource with id '" + r.id + "' already exists");
  }
  r.version = 1;
  r.created_at = now;
  r.updated_at = now;
  if (auto s = FlushPending(); !s) return std::move(s).error();
  auto ins = conn_.Query(kResourceInsert, ResourceParams(r));
  if (!ins) return Fail(std::move(ins).error());
  if (ins->Affected() == 0) {
    return MakeError(Errc::kConflict, "a resource with id '" + r.id + "' already exists");
  }
  // The new row is this transaction's alone until COMMIT. Bookings left
  // behind by a deleted namesake may still overlap: nothing is loaded yet.
  Res& slot = res_[key];
  slot.exists = true;
  slot.r = r;
  slot.ledger = domain::Ledger();
  slot.loaded.clear();
  return r;
}

Result<Resource> PgWriter::Batch::PatchResourceOp(const std::string& tenant, const PatchResource& c,
                                                  Instant now) {
  if (auto s = Ensure({{tenant, c.id, {start_ - kClockSlack_s, kForever}}}, {}); !s) {
    return Fail(std::move(s).error());
  }
  Res* found = FindRes(tenant, c.id);
  if (found == nullptr) return MakeError(Errc::kNotFound, "no resource with id '" + c.id + "'");
  const Resource& current = found->r;
  if (auto s = domain::CheckVersion(current, c.if_match); !s) return std::move(s).error();
  auto patched = domain::ApplyPatch(current, c.patch, now);
  if (!patched) return patched;
  if (patched->capacity < current.capacity) {
    if (auto s = domain::CheckCapacityFloor(found->ledger, patched->capacity, now); !s) {
      return std::move(s).error();
    }
  }
  const Resource r = std::move(*patched);
  if (auto s = FlushPending(); !s) return std::move(s).error();
  auto upd = conn_.Query(kResourceUpdate, ResourceParams(r));
  if (!upd) return Fail(std::move(upd).error());
  found->r = r;
  return r;
}

Status PgWriter::Batch::DeleteResourceOp(const std::string& tenant, const DeleteResource& c,
                                         Instant now) {
  if (auto s = Ensure({{tenant, c.id, {start_ - kClockSlack_s, kForever}}}, {}); !s) {
    return Fail(std::move(s).error());
  }
  Res* found = FindRes(tenant, c.id);
  if (found == nullptr) return MakeError(Errc::kNotFound, "no resource with id '" + c.id + "'");
  if (c.if_match) {
    if (auto s = domain::CheckVersion(found->r, *c.if_match); !s) return std::move(s).error();
  }
  if (auto s = domain::CheckRemovable(found->ledger, now); !s) return std::move(s).error();
  if (auto s = FlushPending(); !s) return s;
  auto del = conn_.Query(kResourceDelete, {tenant, c.id});
  if (!del) return Fail(std::move(del).error());
  found->exists = false;
  found->ledger = domain::Ledger();
  found->loaded.clear();
  return Ok{};
}

// ---- Bookings ---------------------------------------------------------------

Status PgWriter::Batch::PrepareItems(const std::string& tenant,
                                     const std::vector<domain::Item>& items,
                                     std::vector<const Resource*>& resources,
                                     std::vector<const domain::Ledger*>& ledgers) {
  if (auto s = domain::CheckItemCount(items); !s) return s;  // before loading anything
  if (auto s = NeedItems(tenant, items); !s) return s;
  ledgers.clear();
  const auto find = [this, &tenant, &ledgers](const std::string& id) -> Result<const Resource*> {
    Res* r = FindRes(tenant, id);
    if (r == nullptr) return nullptr;
    ledgers.push_back(&r->ledger);
    return &r->r;
  };
  return domain::ResolveItems(items, find, resources);
}

Result<Booking> PgWriter::Batch::CreateBookingOp(const std::string& tenant, const CreateBooking& c,
                                                 Instant now) {
  std::vector<const Resource*> resources;
  std::vector<const domain::Ledger*> ledgers;
  if (auto s = PrepareItems(tenant, c.items, resources, ledgers); !s) return std::move(s).error();
  if (auto s = domain::CheckItems(resources, ledgers, c.items, now); !s) {
    return std::move(s).error();
  }
  if (next_seq_ == seqs_.size()) {
    auto more = conn_.Query(kNextSeqs, {"1"});
    if (!more) return Fail(std::move(more).error());
    seqs_.push_back(more->Int(0, 0));
  }

  Booking b = domain::NewBooking(tenant, NewOrderedId("bk_", now, 8), c.items, c.customer,
                                 c.metadata_json, c.hold_seconds, now);
  b.seq = seqs_[next_seq_++];
  for (const domain::Item& it : b.items) {
    res_[Key(tenant, it.resource_id)].ledger.Add(b.id, UsageOf(b, it));
  }
  NoteItemLengths(tenant, b.items);
  new_bookings_.push_back(b);
  return b;
}

Result<Booking> PgWriter::Batch::PatchBookingOp(const std::string& tenant, const PatchBooking& c,
                                                Instant now) {
  const std::string key = Key(tenant, c.id);
  auto found = bookings_.find(key);
  if (found == bookings_.end())
    return MakeError(Errc::kNotFound, "no booking with id '" + c.id + "'");
  Booking b = found->second.b;
  if (auto s = domain::CheckVersion(b, c.if_match); !s) return std::move(s).error();
  if (auto s = domain::CheckPatchable(b, now); !s) return std::move(s).error();

  const std::vector<domain::Item> old_items = b.items;
  if (c.patch.items) {
    std::vector<const Resource*> resources;
    std::vector<const domain::Ledger*> ledgers;
    if (auto s = PrepareItems(tenant, *c.patch.items, resources, ledgers); !s) {
      return std::move(s).error();
    }
    // Check as if this booking's own items were released: take them out of
    // the ledgers the check reads, and put them back if it fails.
    std::vector<domain::Ledger*> touched;
    for (const domain::Item& it : *c.patch.items) {
      domain::Ledger* l = &res_[Key(tenant, it.resource_id)].ledger;
      if (std::find(touched.begin(), touched.end(), l) == touched.end()) touched.push_back(l);
    }
    for (domain::Ledger* l : touched) l->Remove(b.id);
    Status fits = domain::CheckItems(resources, ledgers, *c.patch.items, now);
    if (!fits) {
      for (const domain::Item& it : old_items) {
        auto r = res_.find(Key(tenant, it.resource_id));
        if (r != res_.end() && r->second.exists &&
            std::find(touched.begin(), touched.end(), &r->second.ledger) != touched.end()) {
          r->second.ledger.Add(b.id, UsageOf(b, it));
        }
      }
      return std::move(fits).error();
    }
    b.items = *c.patch.items;
    NoteItemLengths(tenant, b.items);
  }
  if (c.patch.customer) b.customer = *c.patch.customer;
  if (c.patch.metadata_json) b.metadata_json = *c.patch.metadata_json;
  b.version += 1;
  b.updated_at = now;

  if (c.patch.items) {
    for (const domain::Item& it : old_items) {
      if (Res* r = FindRes(tenant, it.resource_id)) r->ledger.Remove(b.id);
    }
    for (const domain::Item& it : b.items) {
      if (Res* r = FindRes(tenant, it.resource_id)) r->ledger.Add(b.id, UsageOf(b, it));
    }
  }
  Bk& bk = bookings_[key];
  bk.b = b;
  if (!bk.row_dirty) dirty_.push_back(key);
  bk.row_dirty = true;
  bk.items_dirty = bk.items_dirty || c.patch.items.has_value();
  return b;
}

Result<Booking> PgWriter::Batch::TransitionOp(const std::string& tenant, const TransitionBooking& c,
                                              Instant now) {
  const std::string key = Key(tenant, c.id);
  auto found = bookings_.find(key);
  if (found == bookings_.end())
    return MakeError(Errc::kNotFound, "no booking with id '" + c.id + "'");
  Booking b = found->second.b;  // a copy: the batch keeps the original until this succeeds
  if (c.if_match) {
    if (auto s = domain::CheckVersion(b, *c.if_match); !s) return std::move(s).error();
  }
  auto effect = domain::ApplyTransition(b, c.transition, now);
  if (!effect) return std::move(effect).error();
  if (*effect == domain::TransitionEffect::kAlreadyThere) return b;
  if (b.status == domain::BookingStatus::kConfirmed) {
    // Confirming makes the hold count for good: it must hold the locks of
    // its resources, like every decision that adds usage.
    if (auto s = NeedItems(tenant, b.items); !s) return std::move(s).error();
  }
  for (const domain::Item& it : b.items) {
    Res* r = FindRes(tenant, it.resource_id);
    if (r == nullptr) continue;
    if (b.status == domain::BookingStatus::kConfirmed) {
      r->ledger.SetExpiry(b.id, kForever);
    } else {
      r->ledger.Remove(b.id);
    }
  }
  Bk& bk = bookings_[key];
  bk.b = b;
  if (!bk.row_dirty) dirty_.push_back(key);
  bk.row_dirty = true;
  return b;
}

// ---- The writer ---------------------------------------------------------------

PgWriter::PgWriter(const PgOptions& options, const domain::Clock& clock)
    : options_(options), clock_(clock) {}

PgWriter::~PgWriter() = default;

Status PgWriter::TryBatch(std::vector<Command>& cmds, std::vector<WriteOutcome>& outcomes,
                          Retry& retry) {
  retry = Retry::kNo;
  if (conn_ == nullptr || !conn_->usable()) {
    conn_.reset();
    auto c =
        PgConn::Connect({options_.url, options_.connect_timeout_s, options_.statement_timeout_ms});
    if (!c) return Error::Overloaded("storage: the database is unreachable; retry later");
    conn_ = std::move(*c);
  }
  const Instant now = clock_.Now();
  const bool sweep = now - last_sweep_ >= 1;
  Batch batch(*conn_, clock_, cmds, outcomes);
  Status s = batch.Run(sweep);
  if (s) {
    if (sweep) last_sweep_ = now;
    return s;
  }
  Error e = std::move(s).error();
  const std::string sqlstate = conn_->last_sqlstate();
  if (conn_->usable() && conn_->in_transaction() && !conn_->Exec("ROLLBACK")) conn_.reset();
  if (conn_ != nullptr && !conn_->usable()) conn_.reset();
  if (sqlstate == kSqlstateDeadlock || sqlstate == kSqlstateSerialization) {
    retry = Retry::kAgain;
  } else if (e.code == Errc::kOverloaded && !batch.commit_sent() && conn_ == nullptr) {
    retry = Retry::kReconnect;  // the connection broke before COMMIT: nothing happened
  }
  return e;
}

void PgWriter::RunBatch(std::vector<Command>& cmds, std::vector<WriteOutcome>& outcomes) {
  const std::size_t n = cmds.size();
  Error last = Error::Overloaded("the database could not commit; retry later");
  bool reconnected = false;
  for (int attempt = 0; attempt < kAttemptsMax; ++attempt) {
    Retry retry = Retry::kNo;
    Status s = TryBatch(cmds, outcomes, retry);
    if (s) return;
    last = std::move(s).error();
    if (retry == Retry::kAgain) continue;
    if (retry == Retry::kReconnect && !reconnected) {
      reconnected = true;
      continue;
    }
    break;
  }

  if (last.code == Errc::kInternal && n > 1) {
    // An SQL error that is not the database's state: find the command that
    // causes it by running each alone; the others still get their answers.
    for (std::size_t i = 0; i < n; ++i) {
      std::vector<Command> one;
      one.push_back(std::move(cmds[i]));
      std::vector<WriteOutcome> out;
      RunBatch(one, out);
      cmds[i] = std::move(one[0]);
      outcomes[i] = std::move(out[0]);
    }
    return;
  }
  if (last.code != Errc::kInternal) {
    last.code = Errc::kOverloaded;
    if (last.retry_after_s < 1) last.retry_after_s = 1;
  }
  outcomes.assign(n, WriteOutcome{last, std::nullopt});
}

}  // namespace bookd::storage
