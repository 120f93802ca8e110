#include "storage/schema.h"

#include <array>
#include <cassert>
#include <chrono>
#include <string>
#include <thread>

namespace bookd::storage {
namespace {

// Append only: a released migration is never edited. Every table carries the
// tenant, and every key and index starts with it, so that partitioning by
// tenant never needs a rewrite.
constexpr std::array<const char*, 3> kMigrations = {
    R"sql(
CREATE TABLE api_keys (
  id          TEXT PRIMARY KEY,
  tenant      TEXT NOT NULL,
  role        TEXT NOT NULL CHECK (role IN ('admin', 'booking')),
  secret_hash TEXT NOT NULL UNIQUE,
  created_at  INTEGER NOT NULL,
  revoked_at  INTEGER
);

CREATE TABLE resources (
  tenant        TEXT NOT NULL,
  id            TEXT NOT NULL,
  name          TEXT NOT NULL,
  capacity      INTEGER NOT NULL CHECK (capacity >= 1),
  timezone      TEXT NOT NULL,
  hours_json    TEXT,
  closures_json TEXT NOT NULL,
  metadata_json TEXT NOT NULL,
  version       INTEGER NOT NULL,
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  PRIMARY KEY (tenant, id)
) WITHOUT ROWID;

CREATE TABLE bookings (
  seq           INTEGER PRIMARY KEY,
  tenant        TEXT NOT NULL,
  id            TEXT NOT NULL,
  status        TEXT NOT NULL CHECK (status IN ('held', 'confirmed', 'cancelled')),
  customer      TEXT,
  metadata_json TEXT NOT NULL,
  expires_at    INTEGER,
  version       INTEGER NOT NULL,
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  UNIQUE (tenant, id)
);
CREATE INDEX bookings_by_customer ON bookings (tenant, customer, seq);

CREATE TABLE booking_items (
  booking_seq INTEGER NOT NULL,
  idx         INTEGER NOT NULL,
  tenant      TEXT NOT NULL,
  resource_id TEXT NOT NULL,
  start_at    INTEGER NOT NULL,
  end_at      INTEGER NOT NULL,
  quantity    INTEGER NOT NULL CHECK (quantity >= 1),
  PRIMARY KEY (booking_seq, idx)
) WITHOUT ROWID;
CREATE INDEX booking_items_by_resource_end ON booking_items (tenant, resource_id, end_at);

CREATE TABLE idempotency (
  tenant       TEXT NOT NULL,
  key_id       TEXT NOT NULL,
  key          TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  status       INTEGER NOT NULL,
  body         BLOB NOT NULL,
  content_type TEXT NOT NULL,
  location     TEXT NOT NULL,
  etag         TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  PRIMARY KEY (key_id, key)
);
CREATE INDEX idempotency_by_created ON idempotency (created_at);
)sql",

    // 2: the tenants registry. A database made before it existed keeps every
    // key and object where it was: the tenant "default" and every tenant that
    // a key or an object already names are registered.
    R"sql(
CREATE TABLE tenants (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO tenants (id, name, created_at)
VALUES ('default', 'default', CAST(strftime('%s', 'now') AS INTEGER));

INSERT OR IGNORE INTO tenants (id, name, created_at)
SELECT tenant, tenant, CAST(strftime('%s', 'now') AS INTEGER)
FROM (SELECT tenant FROM api_keys UNION SELECT tenant FROM resources
      UNION SELECT tenant FROM bookings);
)sql",

    // 3: the same bookings table with its status check written as
    // comparisons. SQLite evaluates `IN` over three or more constants by
    // building a temporary B-tree (a pager, a page cache and a cursor) every
    // time the row is written, which cost each booking's INSERT more than the
    // INSERT itself; two comparisons or fewer it compares in place. The
    // table is copied row for row, seq (its rowid) included, once.
    R"sql(
CREATE TABLE bookings_v3 (
  seq           INTEGER PRIMARY KEY,
  tenant        TEXT NOT NULL,
  id            TEXT NOT NULL,
  status        TEXT NOT NULL
                CHECK (status = 'held' OR status = 'confirmed' OR status = 'cancelled'),
  customer      TEXT,
  metadata_json TEXT NOT NULL,
  expires_at    INTEGER,
  version       INTEGER NOT NULL,
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  UNIQUE (tenant, id)
);
INSERT INTO bookings_v3 (seq, tenant, id, status, customer, metadata_json, expires_at, version,
                         created_at, updated_at)
SELECT seq, tenant, id, status, customer, metadata_json, expires_at, version, created_at,
       updated_at
FROM bookings ORDER BY seq;
DROP TABLE bookings;
ALTER TABLE bookings_v3 RENAME TO bookings;
CREATE INDEX bookings_by_customer ON bookings (tenant, customer, seq);
)sql",
};

}  // namespace

int SchemaVersion() { return static_cast<int>(kMigrations.size()); }

Status Migrate(Db& db) { return Migrate(db, SchemaVersion()); }

Status ConfigureConnection(Db& db) {
  // FULL: the WAL is fsynced at every COMMIT, so a `done` that runs after
  // COMMIT returns can promise durability (the 201). The store's writer
  // switches to NORMAL when a sync thread fsyncs the WAL for it.
  // A 64 MiB page cache and memory-mapped reads keep the hot B-tree pages of
  // bookings and items out of read() calls.
  return db.Exec(
      "PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY; "
      "PRAGMA cache_size=-65536; PRAGMA mmap_size=268435456;");
}

Status Migrate(Db& db, int target_version) {
  assert(target_version >= 1 && target_version <= SchemaVersion());
  auto mode = db.Prepare("PRAGMA journal_mode=WAL");
  if (!mode) return std::move(mode).error();
  // Switching a new file to WAL needs it to itself for a moment: when
  // another process or thread opens the same new file at that instant, the
  // pragma answers the old mode instead of waiting. Try again, boundedly.
  constexpr int kJournalModeAttemptsMax = 200;  // 10 ms apart: 2 s in all
  bool wal = false;
  for (int attempt = 0; attempt < kJournalModeAttemptsMax && !wal; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    wal = mode->Step() == SQLITE_ROW && mode->Text(0) == "wal";
    mode->Reset();
  }
  if (!wal) return MakeError(Errc::kInternal, "storage: the database refuses journal_mode=WAL");

  if (auto s = ConfigureConnection(db); !s) return s;
  if (auto s = db.Exec("BEGIN IMMEDIATE"); !s) return s;
  auto version = db.QueryInt("PRAGMA user_version");
  if (!version) {
    (void)db.Exec("ROLLBACK");
    return std::move(version).error();
  }
  if (*version > target_version) {
    (void)db.Exec("ROLLBACK");
    return MakeError(Errc::kInternal,
                     "storage: the database was written by a newer bookd "
                     "(schema version " +
                         std::to_string(*version) + ")");
  }
  for (int v = static_cast<int>(*version); v < target_version; ++v) {
    if (auto s = db.Exec(kMigrations[static_cast<std::size_t>(v)]); !s) {
      (void)db.Exec("ROLLBACK");
      return s;
    }
  }
  if (auto s = db.Exec("PRAGMA user_version=" + std::to_string(target_version) + "; COMMIT"); !s) {
    (void)db.Exec("ROLLBACK");
    return s;
  }
  return Ok{};
}

}  // namespace bookd::storage
