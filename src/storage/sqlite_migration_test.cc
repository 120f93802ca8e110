// Goal: a database written before tenants existed (schema version 1) keeps
// working after the upgrade, with every key and object in tenant "default".
// Method: migrate a fresh file to version 1 only, write keys and objects with
// plain SQL exactly as that version stored them, then open it with the
// current store and read, book and administer through the Store interface.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <future>

#include "storage/schema.h"
#include "storage/sqlite_db.h"
#include "storage/sqlite_store.h"

namespace bookd::storage {
namespace {

using domain::Instant;

constexpr Instant kT0 = 1803369600;  // 2027-02-23T00:00:00Z
constexpr Instant kHour = 3600;

class FixedClock final : public domain::Clock {
 public:
  Instant Now() const override { return kT0; }
};

// Schema version 1, with what a bookd of that version wrote: two keys of the
// default tenant, one of a tenant named only by its key, a resource, a
// confirmed booking taking one of its two units, and an idempotency row.
constexpr const char* kVersion1Rows = R"sql(
INSERT INTO api_keys (id, tenant, role, secret_hash, created_at, revoked_at) VALUES
  ('k_admin', 'default', 'admin', 'hash-admin', 1803300000, NULL),
  ('k_book', 'default', 'booking', 'hash-book', 1803300001, NULL),
  ('k_legacy', 'legacy', 'booking', 'hash-legacy', 1803300002, NULL);
INSERT INTO resources (tenant, id, name, capacity, timezone, hours_json, closures_json,
                       metadata_json, version, created_at, updated_at) VALUES
  ('default', 'room', 'Old room', 2, 'UTC', NULL, '[]', '{"floor":1}', 3, 1803300000,
   1803300500);
INSERT INTO bookings (seq, tenant, id, status, customer, metadata_json, expires_at, version,
                      created_at, updated_at) VALUES
  (7, 'default', 'b_old', 'confirmed', 'alice', '{}', NULL, 2, 1803300600, 1803300700);
INSERT INTO booking_items (booking_seq, idx, tenant, resource_id, start_at, end_at, quantity)
  VALUES (7, 0, 'default', 'room', 1803369600, 1803373200, 1);
INSERT INTO idempotency (tenant, key_id, key, request_hash, status, body, content_type,
                         location, etag, created_at) VALUES
  ('default', 'k_book', 'order-1', 'h1', 201, 'b_old', 'application/json',
   '/v1/bookings/b_old', '"1"', 1803369000);
)sql";

class SqliteMigrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bookd-migrate-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    options_.path = (dir_ / "old.db").string();

    auto db = Db::Open(options_.path, 5000);
    ASSERT_TRUE(db.ok()) << db.error().detail;
    auto migrated = Migrate(*db, 1);
    ASSERT_TRUE(migrated.ok()) << migrated.error().detail;
    auto filled = db->Exec(kVersion1Rows);
    ASSERT_TRUE(filled.ok()) << filled.error().detail;
    ASSERT_EQ(*db->QueryInt("PRAGMA user_version"), 1);
    ASSERT_FALSE(db->Exec("SELECT 1 FROM tenants").ok()) << "version 1 has no tenants table";
  }

  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::int64_t UserVersion() {
    auto db = Db::Open(options_.path, 5000);
    EXPECT_TRUE(db.ok());
    auto v = db->QueryInt("PRAGMA user_version");
    return v.ok() ? *v : -1;
  }

  FixedClock clock_;
  std::filesystem::path dir_;
  SqliteOptions options_;
};

WriteOutcome Exec(Store& store, const std::string& tenant, Operation op) {
  std::promise<WriteOutcome> promise;
  Command cmd;
  cmd.tenant = tenant;
  cmd.op = std::move(op);
  cmd.done = [&promise](WriteOutcome out) { promise.set_value(std::move(out)); };
  store.Submit(std::move(cmd));
  return promise.get_future().get();
}

TEST_F(SqliteMigrationTest, DatabaseFromBeforeTenantsMigratesIntoDefault) {
  auto opened = OpenSqliteStore(options_, clock_);
  ASSERT_TRUE(opened.ok()) << opened.error().detail;
  Store& store = **opened;
  EXPECT_EQ(UserVersion(), SchemaVersion());

  // The registry holds "default" and the tenant its keys already named.
  auto tenants = store.ListTenants();
  ASSERT_TRUE(tenants.ok()) << tenants.error().detail;
  std::vector<std::string> ids;
  for (const Tenant& t : *tenants) ids.push_back(t.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"default", "legacy"}));

  // Keys authenticate as before, in their tenants.
  auto admin = store.FindKey("hash-admin");
  ASSERT_TRUE(admin.ok());
  EXPECT_EQ(admin->tenant, kDefaultTenant);
  EXPECT_EQ(admin->role, Role::kAdmin);
  EXPECT_EQ(store.FindKey("hash-legacy")->tenant, "legacy");

  // The data is readable in tenant default, and only there.
  auto room = store.GetResource(kDefaultTenant, "room");
  ASSERT_TRUE(room.ok()) << room.error().detail;
  EXPECT_EQ(room->name, "Old room");
  EXPECT_EQ(room->version, 3);
  EXPECT_EQ(room->metadata_json, R"({"floor":1})");
  auto booking = store.GetBooking(kDefaultTenant, "b_old");
  ASSERT_TRUE(booking.ok()) << booking.error().detail;
  EXPECT_EQ(booking->status, domain::BookingStatus::kConfirmed);
  ASSERT_EQ(booking->items.size(), 1u);
  EXPECT_EQ(booking->items[0].resource_id, "room");
  EXPECT_EQ(store.GetResource("legacy", "room").error().code, Errc::kNotFound);
  auto listed = store.ListBookings(kDefaultTenant, BookingQuery{}, kT0);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->data.size(), 1u);
  EXPECT_EQ(listed->data[0].id, "b_old");

  // The old booking still takes its unit: one is left, then none.
  const Operation one_unit =
      CreateBooking{{domain::Item{"room", kT0, kT0 + kHour, 1}}, std::nullopt, "{}", std::nullopt};
  auto second = Exec(store, kDefaultTenant, one_unit);
  EXPECT_EQ(std::get_if<Error>(&second.value), nullptr);
  auto third = Exec(store, kDefaultTenant, one_unit);
  ASSERT_NE(std::get_if<Error>(&third.value), nullptr);
  EXPECT_EQ(std::get<Error>(third.value).code, Errc::kUnavailable);

  // The old idempotency row is replayed for its key.
  Command replay;
  replay.tenant = kDefaultTenant;
  replay.op = one_unit;
  replay.idempotency = Idempotency{"k_book", "order-1", "h1"};
  replay.render = [](const WriteOutcome&) { return StoredResponse{}; };
  std::promise<WriteOutcome> replayed;
  replay.done = [&replayed](WriteOutcome out) { replayed.set_value(std::move(out)); };
  store.Submit(std::move(replay));
  const WriteOutcome out = replayed.get_future().get();
  ASSERT_TRUE(out.replay.has_value());
  EXPECT_EQ(out.replay->body, "b_old");

  // New keys go to registered tenants only.
  EXPECT_TRUE(store.CreateKey(kDefaultTenant, Role::kBooking, "hash-new").ok());
  EXPECT_TRUE(store.CreateKey("legacy", Role::kAdmin, "hash-new-legacy").ok());
  EXPECT_EQ(store.CreateKey("ghost", Role::kAdmin, "hash-ghost").error().code, Errc::kNotFound);
  store.Close();

  // Opening again migrates nothing more and loses nothing.
  auto again = OpenSqliteStore(options_, clock_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->ListTenants()->size(), 2u);
  EXPECT_EQ((*again)->ListKeys()->size(), 5u);
  (*again)->Close();
  EXPECT_EQ(UserVersion(), SchemaVersion());
}

TEST_F(SqliteMigrationTest, TenantsNamedOnlyByObjectsAreRegistered) {
  auto db = Db::Open(options_.path, 5000);
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE(db->Exec("INSERT INTO resources (tenant, id, name, capacity, timezone, hours_json, "
                       "closures_json, metadata_json, version, created_at, updated_at) VALUES "
                       "('orphan', 'r', 'r', 1, 'UTC', NULL, '[]', '{}', 1, 0, 0)")
                  .ok());
  auto opened = OpenSqliteStore(options_, clock_);
  ASSERT_TRUE(opened.ok()) << opened.error().detail;
  auto tenants = (*opened)->ListTenants();
  ASSERT_TRUE(tenants.ok());
  EXPECT_TRUE(std::any_of(tenants->begin(), tenants->end(),
                          [](const Tenant& t) { return t.id == "orphan"; }));
  EXPECT_TRUE((*opened)->CreateKey("orphan", Role::kAdmin, "hash-orphan").ok());
  (*opened)->Close();
}

// Goal: version 3 rewrote the bookings table so that writing a row builds no
// temporary B-tree for its status check, and kept the rows, their seq and
// the check itself. Method: migrate the version-1 file with its booking
// (seq 7), then inspect the table and the write statement's program.
TEST_F(SqliteMigrationTest, BookingsKeepTheirRowsAndTheirStatusCheckWithoutATemporaryTable) {
  auto db = Db::Open(options_.path, 5000);
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE(Migrate(*db).ok());
  EXPECT_EQ(*db->QueryInt("SELECT seq FROM bookings WHERE tenant = 'default' AND id = 'b_old'"), 7);
  EXPECT_EQ(*db->QueryInt("SELECT count(*) FROM bookings"), 1);
  EXPECT_EQ(*db->QueryInt("SELECT count(*) FROM sqlite_schema WHERE name IN "
                          "('bookings_by_customer', 'sqlite_autoindex_bookings_1')"),
            2);
  EXPECT_EQ(*db->QueryInt("SELECT count(*) FROM sqlite_schema WHERE name = 'bookings_v3'"), 0);

  const std::string insert =
      "INSERT INTO bookings (tenant, id, status, customer, metadata_json, expires_at, version, "
      "created_at, updated_at) VALUES ('default', ?1, ?2, NULL, '{}', NULL, 1, 0, 0)";
  auto plan = db->Prepare("EXPLAIN " + insert);
  ASSERT_TRUE(plan.ok());
  int ephemeral = 0;
  while (plan->Step() == SQLITE_ROW) ephemeral += plan->Text(1) == "OpenEphemeral";
  EXPECT_EQ(ephemeral, 0);

  auto st = db->Prepare(insert);
  ASSERT_TRUE(st.ok());
  for (const char* status : {"held", "confirmed", "cancelled"}) {
    const std::string id = std::string("b_") + status;  // BindText keeps a view
    st->BindText(1, id);
    st->BindText(2, status);
    EXPECT_TRUE(st->Run("insert").ok()) << status;
  }
  st->BindText(1, "b_bad");
  st->BindText(2, "expired");  // derived at read time, never stored
  EXPECT_FALSE(st->Run("insert").ok());
  EXPECT_EQ(*db->QueryInt("SELECT max(seq) FROM bookings"), 10);
  EXPECT_EQ(*db->QueryInt("SELECT count(*) FROM bookings WHERE id = 'b_bad'"), 0);
}

}  // namespace
}  // namespace bookd::storage
