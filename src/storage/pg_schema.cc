#include "storage/pg_schema.h"

#include <array>
#include <string>

namespace bookd::storage {
namespace {

// Any constant shared by every bookd: the advisory lock that serializes
// migrations of one database.
constexpr std::int64_t kMigrationLockKey = 0x626f6f6b64;  // "bookd"

// Append only: a released migration is never edited. Ids and tenants use the
// "C" collation so that listing by id is byte order and the lock order of
// resource rows is the same on every host. Instants are Unix seconds.
constexpr std::array<const char*, 2> kMigrations = {
    R"sql(
CREATE TABLE api_keys (
  id          TEXT COLLATE "C" PRIMARY KEY,
  tenant      TEXT COLLATE "C" NOT NULL,
  role        TEXT NOT NULL CHECK (role IN ('admin', 'booking')),
  secret_hash TEXT NOT NULL UNIQUE,
  created_at  BIGINT NOT NULL,
  revoked_at  BIGINT
);

CREATE TABLE resources (
  tenant        TEXT COLLATE "C" NOT NULL,
  id            TEXT COLLATE "C" NOT NULL,
  name          TEXT NOT NULL,
  capacity      BIGINT NOT NULL CHECK (capacity >= 1),
  timezone      TEXT NOT NULL,
  hours_json    TEXT,
  closures_json TEXT NOT NULL,
  metadata_json TEXT NOT NULL,
  version       BIGINT NOT NULL,
  created_at    BIGINT NOT NULL,
  updated_at    BIGINT NOT NULL,
  -- The longest item ever booked on it (never lowered): usages overlapping
  -- [s, e) start in [s - max_item_s, e), a narrow index range.
  max_item_s    BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant, id)
);

CREATE SEQUENCE bookings_seq AS BIGINT;
CREATE TABLE bookings (
  seq           BIGINT PRIMARY KEY DEFAULT nextval('bookings_seq'),
  tenant        TEXT COLLATE "C" NOT NULL,
  id            TEXT COLLATE "C" NOT NULL,
  status        TEXT NOT NULL CHECK (status IN ('held', 'confirmed', 'cancelled')),
  customer      TEXT,
  metadata_json TEXT NOT NULL,
  expires_at    BIGINT,
  version       BIGINT NOT NULL,
  created_at    BIGINT NOT NULL,
  updated_at    BIGINT NOT NULL,
  UNIQUE (tenant, id)
);
ALTER SEQUENCE bookings_seq OWNED BY bookings.seq;
CREATE INDEX bookings_by_tenant ON bookings (tenant, seq);
CREATE INDEX bookings_by_customer ON bookings (tenant, customer, seq);

CREATE TABLE booking_items (
  booking_seq BIGINT NOT NULL,
  idx         INTEGER NOT NULL,
  tenant      TEXT COLLATE "C" NOT NULL,
  resource_id TEXT COLLATE "C" NOT NULL,
  start_at    BIGINT NOT NULL,
  end_at      BIGINT NOT NULL,
  quantity    BIGINT NOT NULL CHECK (quantity >= 1),
  PRIMARY KEY (booking_seq, idx)
);
CREATE INDEX booking_items_by_resource_start
  ON booking_items (tenant, resource_id, start_at) INCLUDE (end_at, quantity, booking_seq);

CREATE TABLE idempotency (
  tenant       TEXT COLLATE "C" NOT NULL,
  key_id       TEXT COLLATE "C" NOT NULL,
  key          TEXT COLLATE "C" NOT NULL,
  request_hash TEXT NOT NULL,
  status       INTEGER NOT NULL,
  body         TEXT NOT NULL,
  content_type TEXT NOT NULL,
  location     TEXT NOT NULL,
  etag         TEXT NOT NULL,
  created_at   BIGINT NOT NULL,
  PRIMARY KEY (key_id, key)
);
CREATE INDEX idempotency_by_created ON idempotency (created_at);
)sql",

    // 2: the tenants registry, as in the SQLite schema: "default" and every
    // tenant that a key or an object already names are registered.
    R"sql(
CREATE TABLE tenants (
  id         TEXT COLLATE "C" PRIMARY KEY,
  name       TEXT NOT NULL,
  created_at BIGINT NOT NULL
);

INSERT INTO tenants (id, name, created_at)
SELECT t, t, extract(epoch FROM now())::bigint
FROM (SELECT 'default' AS t UNION SELECT tenant FROM api_keys UNION SELECT tenant FROM resources
      UNION SELECT tenant FROM bookings) AS known;
)sql",
};

const PgSql kCurrentVersion{"", "SELECT coalesce(max(version), 0) FROM schema_migrations"};

}  // namespace

int PgSchemaVersion() { return static_cast<int>(kMigrations.size()); }

Status MigratePg(PgConn& conn) {
  auto fail = [&conn](Error e) -> Status {
    if (conn.usable() && conn.in_transaction()) (void)conn.Exec("ROLLBACK");
    return e;
  };
  if (auto s =
          conn.Exec("BEGIN; SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLockKey) +
                    "); CREATE TABLE IF NOT EXISTS schema_migrations ("
                    "version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL "
                    "DEFAULT now())");
      !s) {
    return fail(std::move(s).error());
  }
  auto current = conn.Query(kCurrentVersion, {});
  if (!current) return fail(std::move(current).error());
  const std::int64_t version = current->Int(0, 0);
  if (version > PgSchemaVersion()) {
    return fail(MakeError(Errc::kInternal,
                          "storage: the database was written by a newer bookd (schema version " +
                              std::to_string(version) + ")"));
  }
  for (int v = static_cast<int>(version); v < PgSchemaVersion(); ++v) {
    const std::string sql = std::string(kMigrations[static_cast<std::size_t>(v)]) +
                            "; INSERT INTO schema_migrations (version) VALUES (" +
                            std::to_string(v + 1) + ")";
    if (auto s = conn.Exec(sql, 60000); !s) return fail(std::move(s).error());
  }
  if (auto s = conn.Exec("COMMIT"); !s) return fail(std::move(s).error());
  return Ok{};
}

}  // namespace bookd::storage
