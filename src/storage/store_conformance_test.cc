// The conformance suite every Store backend must pass. Goal: pin down the
// behaviour the API relies on (capacity decisions, transitions, If-Match,
// idempotency, durability across reopen, several writers on one database)
// independently of the backend. Method: each test runs against every factory
// in kFactories on a fresh database, with a fake clock it moves by hand, and
// submits commands through Store::Submit exactly as the API does.
#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "storage/pg_conn.h"
#include "storage/pg_store.h"
#include "storage/sqlite_store.h"
#include "storage/store.h"

namespace bookd::storage {
namespace {

using domain::BookingStatus;
using domain::Instant;
using domain::Item;

constexpr Instant kT0 = 1803369600;  // 2027-02-23T00:00:00Z
constexpr Instant kHour = 3600;
const std::string kTenant = "default";

class FakeClock final : public domain::Clock {
 public:
  Instant Now() const override { return now_.load(); }
  void Set(Instant t) { now_.store(t); }
  void Advance(Instant d) { now_.fetch_add(d); }

 private:
  std::atomic<Instant> now_{kT0};
};

// Opens a store on the database called `name` inside `dir`; the same name
// opened twice (also concurrently) is the same database.
struct StoreFactory {
  std::string backend;
  std::function<Result<std::unique_ptr<Store>>(const std::filesystem::path& dir,
                                               const std::string& name, const domain::Clock& clock)>
      open;
  // Empty: always available. A backend that needs a server skips its tests
  // when none is configured.
  std::function<bool()> available;
  // Removes what open() created for `dir` beyond the directory itself.
  std::function<void(const std::filesystem::path& dir)> cleanup;
};

void PrintTo(const StoreFactory& f, std::ostream* os) { *os << f.backend; }

// `pipelined`: the default (the WAL fsynced on a thread of its own, after
// COMMIT; checkpoints in the background); otherwise synchronous=FULL and
// SQLite's own checkpoints, the writer answering every command itself.
StoreFactory SqliteFactory(bool pipelined) {
  return {pipelined ? "sqlite" : "sqlite_fullsync",
          [pipelined](const std::filesystem::path& dir, const std::string& name,
                      const domain::Clock& clock) {
            SqliteOptions o;
            o.path = (dir / (name + ".db")).string();
            o.pipelined_sync = pipelined;
            o.background_checkpoints = pipelined;
            return OpenSqliteStore(o, clock);
          },
          {},
          {}};
}

// PostgreSQL runs when BOOKD_TEST_PG_URL names a server (any database the
// user may create schemas in). Each database `name` of a test's `dir` is a
// schema of its own, selected through search_path, and dropped afterwards.
const char* PgTestUrl() {
  const char* url = std::getenv("BOOKD_TEST_PG_URL");
  return url != nullptr && *url != '\0' ? url : nullptr;
}

std::string PgSchemaPrefix(const std::filesystem::path& dir) {
  std::string prefix = "bookd_t_";
  for (char c : dir.filename().string()) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      prefix += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  return prefix + "_";
}

StoreFactory PostgresFactory() {
  StoreFactory f;
  f.backend = "postgres";
  f.available = [] { return PgTestUrl() != nullptr; };
  f.open = [](const std::filesystem::path& dir, const std::string& name,
              const domain::Clock& clock) -> Result<std::unique_ptr<Store>> {
    const std::string url = PgTestUrl();
    const std::string schema = PgSchemaPrefix(dir) + name;
    auto admin = PgConn::Connect({url, 3, 30000});
    if (!admin) return std::move(admin).error();
    if (auto s = (*admin)->Exec("CREATE SCHEMA IF NOT EXISTS \"" + schema + "\""); !s) {
      return std::move(s).error();
    }
    PgOptions o;
    o.url = url + (url.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" +
            schema;
    o.pool_size = 4;
    return OpenPgStore(o, clock);
  };
  f.cleanup = [](const std::filesystem::path& dir) {
    auto admin = PgConn::Connect({PgTestUrl(), 3, 30000});
    if (!admin) return;
    (void)(*admin)->Exec(
        "DO $$ DECLARE s text; BEGIN FOR s IN SELECT nspname FROM pg_namespace WHERE "
        "starts_with(nspname, '" +
        PgSchemaPrefix(dir) +
        "') LOOP EXECUTE format('DROP SCHEMA %I CASCADE', s); END LOOP; END $$");
  };
  return f;
}

// ---- Helpers ----------------------------------------------------------------

WriteOutcome SubmitAndWait(Store& store, Command cmd) {
  std::promise<WriteOutcome> promise;
  auto future = promise.get_future();
  cmd.done = [&promise](WriteOutcome out) { promise.set_value(std::move(out)); };
  store.Submit(std::move(cmd));
  return future.get();
}

WriteOutcome Exec(Store& store, Operation op, const std::string& tenant = kTenant) {
  Command cmd;
  cmd.tenant = tenant;
  cmd.op = std::move(op);
  return SubmitAndWait(store, std::move(cmd));
}

const Error* ErrorOf(const WriteOutcome& out) { return std::get_if<Error>(&out.value); }

Errc CodeOf(const WriteOutcome& out) {
  const Error* e = ErrorOf(out);
  return e == nullptr ? Errc::kInternal : e->code;
}

Booking BookingOf(const WriteOutcome& out) {
  const Error* e = ErrorOf(out);
  EXPECT_EQ(e, nullptr) << (e ? e->detail : "");
  const Booking* b = std::get_if<Booking>(&out.value);
  return b != nullptr ? *b : Booking{};
}

Resource ResourceOf(const WriteOutcome& out) {
  const Error* e = ErrorOf(out);
  EXPECT_EQ(e, nullptr) << (e ? e->detail : "");
  const Resource* r = std::get_if<Resource>(&out.value);
  return r != nullptr ? *r : Resource{};
}

Resource MakeResource(std::string id, std::int64_t capacity) {
  Resource r;
  r.id = std::move(id);
  r.name = "Room " + r.id;
  r.capacity = capacity;
  return r;
}

CreateBooking MakeBooking(std::vector<Item> items, std::optional<std::int64_t> hold = {},
                          std::optional<std::string> customer = {}) {
  CreateBooking c;
  c.items = std::move(items);
  c.hold_seconds = hold;
  c.customer = std::move(customer);
  return c;
}

Item At(std::string resource, Instant start, Instant end, std::int64_t quantity = 1) {
  return Item{std::move(resource), start, end, quantity};
}

BookingQuery Q(const std::function<void(BookingQuery&)>& fill) {
  BookingQuery q;
  fill(q);
  return q;
}

std::int64_t UnitsInUse(Store& store, const std::string& resource, domain::Interval span,
                        Instant now) {
  auto usages = store.Usages(kTenant, resource, span, now);
  EXPECT_TRUE(usages.ok());
  std::int64_t sum = 0;
  if (usages.ok()) {
    for (const auto& u : *usages) sum += u.quantity;
  }
  return sum;
}

// ---- Fixture ----------------------------------------------------------------

class StoreConformance : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    if (GetParam().available && !GetParam().available()) {
      GTEST_SKIP() << GetParam().backend << " is not configured (BOOKD_TEST_PG_URL)";
    }
    char tmpl[] = "/tmp/bookd-store-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    store_ = Open("main");
    ASSERT_NE(store_, nullptr);
  }

  void TearDown() override {
    if (store_) store_->Close();
    store_.reset();
    if (dir_.empty()) return;  // skipped
    if (GetParam().cleanup) GetParam().cleanup(dir_);
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<Store> Open(const std::string& name) {
    auto s = GetParam().open(dir_, name, clock_);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().detail);
    return s.ok() ? std::move(*s) : nullptr;
  }

  void Reopen() {
    store_->Close();
    store_.reset();
    store_ = Open("main");
    ASSERT_NE(store_, nullptr);
  }

  Resource AddResource(const std::string& id, std::int64_t capacity) {
    return ResourceOf(Exec(*store_, CreateResource{MakeResource(id, capacity)}));
  }

  FakeClock clock_;
  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
};

// ---- Resources --------------------------------------------------------------

TEST_P(StoreConformance, ResourcesAreCreatedReadAndListedInIdOrder) {
  Resource in = MakeResource("room-b", 3);
  in.timezone = "Europe/Berlin";
  domain::WeeklyHours hours;
  hours.days[0] = {{9 * 60, 17 * 60}};
  hours.days[6] = {{0, 60}, {120, 1440}};
  in.hours = hours;
  in.closures = {{kT0, kT0 + kHour}};
  in.metadata_json = R"({"floor":2})";
  const Resource created = ResourceOf(Exec(*store_, CreateResource{in}));
  EXPECT_EQ(created.version, 1);
  EXPECT_EQ(created.created_at, kT0);
  EXPECT_EQ(created.tenant, kTenant);

  auto got = store_->GetResource(kTenant, "room-b");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->name, in.name);
  EXPECT_EQ(got->capacity, 3);
  EXPECT_EQ(got->timezone, "Europe/Berlin");
  EXPECT_EQ(got->hours, in.hours);
  EXPECT_EQ(got->closures, in.closures);
  EXPECT_EQ(got->metadata_json, in.metadata_json);

  AddResource("room-a", 1);
  AddResource("Room-c", 1);  // 'R' < 'r' in byte order
  const Resource generated = ResourceOf(Exec(*store_, CreateResource{MakeResource("", 1)}));
  EXPECT_FALSE(generated.id.empty());

  EXPECT_EQ(CodeOf(Exec(*store_, CreateResource{MakeResource("room-a", 1)})), Errc::kConflict);

  auto page1 = store_->ListResources(kTenant, "", 2);
  ASSERT_TRUE(page1.ok());
  ASSERT_EQ(page1->data.size(), 2u);
  EXPECT_EQ(page1->data[0].id, "Room-c");
  EXPECT_TRUE(page1->more);
  auto page2 = store_->ListResources(kTenant, page1->data[1].id, 10);
  ASSERT_TRUE(page2.ok());
  EXPECT_FALSE(page2->more);
  ASSERT_EQ(page1->data.size() + page2->data.size(), 4u);
  for (std::size_t i = 1; i < page2->data.size(); ++i) {
    EXPECT_LT(page2->data[i - 1].id, page2->data[i].id);
  }

  EXPECT_EQ(store_->GetResource(kTenant, "nope").error().code, Errc::kNotFound);
  // Tenants are partitions: another tenant sees nothing of these.
  EXPECT_EQ(store_->GetResource("other", "room-a").error().code, Errc::kNotFound);
  EXPECT_TRUE(store_->ListResources("other", "", 10)->data.empty());
}

TEST_P(StoreConformance, LoweringCapacityBelowBookedUnitsIsRefused) {
  AddResource("hall", 5);
  BookingOf(Exec(*store_, MakeBooking({At("hall", kT0 + kHour, kT0 + 2 * kHour, 3)})));

  ResourcePatch to2;
  to2.capacity = 2;
  const auto refused = Exec(*store_, PatchResource{"hall", 1, to2});
  EXPECT_EQ(CodeOf(refused), Errc::kUnavailable);
  EXPECT_EQ(store_->GetResource(kTenant, "hall")->capacity, 5);

  ResourcePatch stale;
  stale.name = "Hall";
  EXPECT_EQ(CodeOf(Exec(*store_, PatchResource{"hall", 7, stale})), Errc::kPreconditionFailed);

  ResourcePatch to3;
  to3.capacity = 3;
  to3.name = "Big hall";
  const Resource patched = ResourceOf(Exec(*store_, PatchResource{"hall", 1, to3}));
  EXPECT_EQ(patched.capacity, 3);
  EXPECT_EQ(patched.version, 2);
  EXPECT_EQ(store_->GetResource(kTenant, "hall")->name, "Big hall");

  // The new capacity is what later bookings are decided against.
  EXPECT_EQ(CodeOf(Exec(*store_, MakeBooking({At("hall", kT0 + kHour, kT0 + 2 * kHour)}))),
            Errc::kUnavailable);
}

TEST_P(StoreConformance, ResourceWithFutureBookingsCannotBeDeleted) {
  AddResource("desk", 1);
  const Booking b =
      BookingOf(Exec(*store_, MakeBooking({At("desk", kT0 + kHour, kT0 + 2 * kHour)})));
  EXPECT_EQ(CodeOf(Exec(*store_, DeleteResource{"desk", std::nullopt})), Errc::kConflict);
  EXPECT_EQ(CodeOf(Exec(*store_, DeleteResource{"desk", 9})), Errc::kPreconditionFailed);

  BookingOf(Exec(*store_, TransitionBooking{b.id, Transition::kCancel, std::nullopt}));
  const auto deleted = Exec(*store_, DeleteResource{"desk", 1});
  EXPECT_TRUE(std::holds_alternative<std::monostate>(deleted.value));
  EXPECT_EQ(store_->GetResource(kTenant, "desk").error().code, Errc::kNotFound);
  EXPECT_EQ(CodeOf(Exec(*store_, DeleteResource{"desk", std::nullopt})), Errc::kNotFound);
}

// ---- Bookings ---------------------------------------------------------------

TEST_P(StoreConformance, BookingsAreCreatedReadAndListedWithFilters) {
  AddResource("r1", 10);
  AddResource("r2", 10);
  CreateBooking first = MakeBooking(
      {At("r1", kT0 + kHour, kT0 + 2 * kHour, 2), At("r2", kT0 + 3 * kHour, kT0 + 4 * kHour)},
      std::nullopt, "alice");
  first.metadata_json = R"({"note":"window"})";
  const Booking a = BookingOf(Exec(*store_, first));
  EXPECT_EQ(a.status, BookingStatus::kConfirmed);
  EXPECT_FALSE(a.expires_at.has_value());
  EXPECT_EQ(a.version, 1);

  const Booking b = BookingOf(
      Exec(*store_, MakeBooking({At("r2", kT0 + 5 * kHour, kT0 + 6 * kHour)}, 600, "bob")));
  EXPECT_EQ(b.status, BookingStatus::kHeld);
  EXPECT_EQ(b.expires_at, kT0 + 600);
  const Booking c =
      BookingOf(Exec(*store_, MakeBooking({At("r1", kT0 + 7 * kHour, kT0 + 8 * kHour)}, 60)));
  EXPECT_NE(a.id, b.id);
  EXPECT_LT(a.seq, b.seq);
  EXPECT_LT(b.seq, c.seq);

  auto got = store_->GetBooking(kTenant, a.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->items, a.items);
  EXPECT_EQ(got->customer, "alice");
  EXPECT_EQ(got->metadata_json, R"({"note":"window"})");
  EXPECT_EQ(store_->GetBooking(kTenant, "bk_missing").error().code, Errc::kNotFound);
  EXPECT_EQ(store_->GetBooking("other", a.id).error().code, Errc::kNotFound);

  clock_.Advance(120);  // c's hold has run out, b's has not
  const Instant now = clock_.Now();
  auto ids = [&](BookingQuery q) {
    std::vector<std::string> out;
    auto page = store_->ListBookings(kTenant, q, now);
    EXPECT_TRUE(page.ok());
    if (page.ok()) {
      for (const auto& bk : page->data) out.push_back(bk.id);
    }
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids({}), (V{a.id, b.id, c.id}));
  EXPECT_EQ(ids(Q([&](BookingQuery& q) { q.resource_id = "r2"; })), (V{a.id, b.id}));
  EXPECT_EQ(ids(Q([&](BookingQuery& q) { q.customer = "bob"; })), (V{b.id}));
  EXPECT_EQ(ids(Q([&](BookingQuery& q) { q.status = BookingStatus::kHeld; })), (V{b.id}));
  EXPECT_EQ(ids(Q([&](BookingQuery& q) { q.status = BookingStatus::kExpired; })), (V{c.id}));
  EXPECT_EQ(ids(Q([&](BookingQuery& q) { q.status = BookingStatus::kConfirmed; })), (V{a.id}));
  // Half-open: an item ending at `from` does not overlap.
  EXPECT_EQ(ids(Q([&](BookingQuery& q) {
              q.from = kT0 + 2 * kHour;
              q.to = kT0 + 6 * kHour;
            })),
            (V{a.id, b.id}));
  EXPECT_EQ(ids(Q([&](BookingQuery& q) {
              q.from = kT0 + 4 * kHour;
              q.to = kT0 + 5 * kHour;
            })),
            V{});
  EXPECT_EQ(ids(Q([&](BookingQuery& q) {
              q.resource_id = "r1";
              q.from = kT0 + 3 * kHour;
            })),
            (V{c.id}));

  auto page = store_->ListBookings(kTenant, Q([&](BookingQuery& q) { q.limit = 2; }), now);
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->more);
  ASSERT_EQ(page->data.size(), 2u);
  EXPECT_EQ(page->data[0].items, a.items);
  auto rest = store_->ListBookings(kTenant, Q([&](BookingQuery& q) {
                                     q.limit = 2;
                                     q.after_seq = page->data[1].seq;
                                   }),
                                   now);
  ASSERT_TRUE(rest.ok());
  EXPECT_FALSE(rest->more);
  ASSERT_EQ(rest->data.size(), 1u);
  EXPECT_EQ(rest->data[0].id, c.id);
}

TEST_P(StoreConformance, UnknownResourceAndExcessQuantityAreValidationErrors) {
  AddResource("r1", 2);
  const auto unknown =
      Exec(*store_, MakeBooking({At("r1", kT0, kT0 + kHour), At("ghost", kT0, kT0 + kHour)}));
  ASSERT_EQ(CodeOf(unknown), Errc::kValidation);
  ASSERT_EQ(ErrorOf(unknown)->errors.size(), 1u);
  EXPECT_EQ(ErrorOf(unknown)->errors[0].pointer, "/items/1/resource_id");

  const auto too_many = Exec(*store_, MakeBooking({At("r1", kT0, kT0 + kHour, 3)}));
  ASSERT_EQ(CodeOf(too_many), Errc::kValidation);
  EXPECT_EQ(ErrorOf(too_many)->errors[0].pointer, "/items/0/quantity");
  EXPECT_EQ(UnitsInUse(*store_, "r1", {kT0, kT0 + kHour}, kT0), 0);
}

TEST_P(StoreConformance, MultiItemBookingIsAllOrNothing) {
  AddResource("r1", 1);
  AddResource("r2", 1);
  BookingOf(Exec(*store_, MakeBooking({At("r2", kT0 + kHour, kT0 + 2 * kHour)})));

  const auto failed = Exec(*store_, MakeBooking({At("r1", kT0 + kHour, kT0 + 2 * kHour),
                                                 At("r2", kT0 + kHour, kT0 + 2 * kHour)}));
  ASSERT_EQ(CodeOf(failed), Errc::kUnavailable);
  const auto& conflicts = ErrorOf(failed)->conflicts;
  ASSERT_EQ(conflicts.size(), 1u);
  EXPECT_EQ(conflicts[0].item, 1);
  EXPECT_EQ(conflicts[0].resource_id, "r2");
  EXPECT_EQ(conflicts[0].reason, "capacity");
  EXPECT_EQ(conflicts[0].available, 0);

  // Nothing of the first item was kept: r1 is still entirely free.
  EXPECT_EQ(UnitsInUse(*store_, "r1", {kT0, kT0 + 3 * kHour}, kT0), 0);
  auto all = store_->ListBookings(kTenant, {}, kT0);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->data.size(), 1u);
  BookingOf(Exec(*store_, MakeBooking({At("r1", kT0 + kHour, kT0 + 2 * kHour)})));
}

TEST_P(StoreConformance, HalfOpenIntervalsThatTouchDoNotConflict) {
  AddResource("r1", 1);
  BookingOf(Exec(*store_, MakeBooking({At("r1", kT0 + kHour, kT0 + 2 * kHour)})));
  BookingOf(Exec(*store_, MakeBooking({At("r1", kT0 + 2 * kHour, kT0 + 3 * kHour)})));
  BookingOf(Exec(*store_, MakeBooking({At("r1", kT0, kT0 + kHour)})));
  EXPECT_EQ(CodeOf(Exec(*store_, MakeBooking({At("r1", kT0 + 2 * kHour - 1, kT0 + 2 * kHour)}))),
            Errc::kUnavailable);
}

// Goal: the batched read that search uses answers, for every id and in
// order, what GetResource and Usages answer one by one (and nothing for an
// id that is not a resource of the tenant).
TEST_P(StoreConformance, ResourcesWithUsagesMatchesTheSingleReads) {
  AddResource("a", 5);
  AddResource("b", 5);
  BookingOf(Exec(*store_, MakeBooking({At("a", kT0 + kHour, kT0 + 2 * kHour, 2)})));
  BookingOf(Exec(*store_, MakeBooking({At("a", kT0 + 3 * kHour, kT0 + 4 * kHour, 1)})));
  BookingOf(Exec(*store_, MakeBooking({At("b", kT0 + 9 * kHour, kT0 + 10 * kHour, 3)})));
  BookingOf(Exec(*store_, MakeBooking({At("b", kT0 + 30 * kHour, kT0 + 31 * kHour, 1)})));

  const std::vector<std::string> ids = {"b", "missing", "a", "b"};
  const domain::Interval span{kT0, kT0 + 24 * kHour};
  auto all = store_->ResourcesWithUsages(kTenant, ids, span, kT0);
  ASSERT_TRUE(all.ok()) << all.error().detail;
  ASSERT_EQ(all->size(), ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    SCOPED_TRACE(ids[i]);
    auto one = store_->GetResource(kTenant, ids[i]);
    ASSERT_EQ((*all)[i].resource.has_value(), one.ok());
    if (!one.ok()) continue;
    EXPECT_EQ((*all)[i].resource->id, one->id);
    EXPECT_EQ((*all)[i].resource->capacity, one->capacity);
    auto usages = store_->Usages(kTenant, ids[i], span, kT0);
    ASSERT_TRUE(usages.ok());
    EXPECT_EQ((*all)[i].usages, *usages);
  }
  EXPECT_EQ((*all)[2].usages.size(), 2u);  // a: both bookings in the span
  EXPECT_EQ((*all)[0].usages.size(), 1u);  // b: the second is after the span

  // Another tenant's view of the same ids: nothing.
  auto other = store_->ResourcesWithUsages("elsewhere", ids, span, kT0);
  ASSERT_TRUE(other.ok());
  for (const ResourceUsages& ru : *other) EXPECT_FALSE(ru.resource.has_value());
}

TEST_P(StoreConformance, HoldStopsCountingAtExpiresAtExactly) {
  AddResource("seat", 1);
  const Item slot = At("seat", kT0 + 10 * kHour, kT0 + 11 * kHour);
  const Booking hold = BookingOf(Exec(*store_, MakeBooking({slot}, 60)));
  EXPECT_EQ(hold.expires_at, kT0 + 60);

  clock_.Set(kT0 + 59);
  EXPECT_EQ(CodeOf(Exec(*store_, MakeBooking({slot}))), Errc::kUnavailable);
  EXPECT_EQ(UnitsInUse(*store_, "seat", {slot.start, slot.end}, clock_.Now()), 1);

  clock_.Set(kT0 + 60);
  EXPECT_EQ(UnitsInUse(*store_, "seat", {slot.start, slot.end}, clock_.Now()), 0);
  const Booking taken = BookingOf(Exec(*store_, MakeBooking({slot})));
  EXPECT_EQ(taken.status, BookingStatus::kConfirmed);

  auto expired = store_->GetBooking(kTenant, hold.id);
  ASSERT_TRUE(expired.ok());
  EXPECT_EQ(domain::EffectiveStatus(*expired, clock_.Now()), BookingStatus::kExpired);
  EXPECT_EQ(CodeOf(Exec(*store_, TransitionBooking{hold.id, Transition::kConfirm, {}})),
            Errc::kHoldExpired);
}

TEST_P(StoreConformance, ConfirmAndCancelFollowTheTransitionTable) {
  AddResource("r", 1);
  const Item slot = At("r", kT0 + kHour, kT0 + 2 * kHour);
  const Booking held = BookingOf(Exec(*store_, MakeBooking({slot}, 300)));

  const Booking confirmed =
      BookingOf(Exec(*store_, TransitionBooking{held.id, Transition::kConfirm, {}}));
  EXPECT_EQ(confirmed.status, BookingStatus::kConfirmed);
  EXPECT_FALSE(confirmed.expires_at.has_value());
  EXPECT_EQ(confirmed.version, 2);

  // A confirmed booking counts forever, long after the hold would have run out.
  clock_.Advance(1000);
  EXPECT_EQ(CodeOf(Exec(*store_, MakeBooking({slot}))), Errc::kUnavailable);

  const Booking again =
      BookingOf(Exec(*store_, TransitionBooking{held.id, Transition::kConfirm, 2}));
  EXPECT_EQ(again.version, 2);  // unchanged, no version bump

  const Booking cancelled =
      BookingOf(Exec(*store_, TransitionBooking{held.id, Transition::kCancel, {}}));
  EXPECT_EQ(cancelled.status, BookingStatus::kCancelled);
  EXPECT_EQ(cancelled.version, 3);
  const Booking cancelled_again =
      BookingOf(Exec(*store_, TransitionBooking{held.id, Transition::kCancel, {}}));
  EXPECT_EQ(cancelled_again.version, 3);
  EXPECT_EQ(CodeOf(Exec(*store_, TransitionBooking{held.id, Transition::kConfirm, {}})),
            Errc::kInvalidTransition);

  // Cancelling released the units.
  BookingOf(Exec(*store_, MakeBooking({slot}, 10)));

  // Cancelling an expired hold returns it unchanged.
  clock_.Advance(10);
  auto list = store_->ListBookings(
      kTenant, Q([&](BookingQuery& q) { q.status = BookingStatus::kExpired; }), clock_.Now());
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->data.size(), 1u);
  const Booking expired = list->data[0];
  const Booking kept =
      BookingOf(Exec(*store_, TransitionBooking{expired.id, Transition::kCancel, {}}));
  EXPECT_EQ(kept.version, expired.version);
  EXPECT_EQ(kept.status, BookingStatus::kHeld);
  EXPECT_EQ(CodeOf(Exec(*store_, TransitionBooking{"bk_nope", Transition::kCancel, {}})),
            Errc::kNotFound);
}

TEST_P(StoreConformance, StaleIfMatchIsRefusedAndChangesNothing) {
  AddResource("r", 2);
  const Booking b = BookingOf(Exec(*store_, MakeBooking({At("r", kT0, kT0 + kHour)}, 300, "x")));

  BookingPatch patch;
  patch.customer = std::optional<std::string>("y");
  patch.items = std::vector<Item>{At("r", kT0, kT0 + kHour, 2)};
  EXPECT_EQ(CodeOf(Exec(*store_, PatchBooking{b.id, 5, patch})), Errc::kPreconditionFailed);
  EXPECT_EQ(CodeOf(Exec(*store_, TransitionBooking{b.id, Transition::kConfirm, 5})),
            Errc::kPreconditionFailed);
  EXPECT_EQ(CodeOf(Exec(*store_, TransitionBooking{b.id, Transition::kCancel, 5})),
            Errc::kPreconditionFailed);

  auto now = store_->GetBooking(kTenant, b.id);
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->version, 1);
  EXPECT_EQ(now->status, BookingStatus::kHeld);
  EXPECT_EQ(now->customer, "x");
  EXPECT_EQ(now->items, b.items);
  EXPECT_EQ(UnitsInUse(*store_, "r", {kT0, kT0 + kHour}, kT0), 1);
}

TEST_P(StoreConformance, PatchChecksNewItemsAsIfOwnItemsWereReleased) {
  AddResource("r", 1);
  AddResource("q", 1);
  const Booking b = BookingOf(Exec(*store_, MakeBooking({At("r", kT0, kT0 + 2 * kHour)})));
  const Booking other =
      BookingOf(Exec(*store_, MakeBooking({At("r", kT0 + 3 * kHour, kT0 + 4 * kHour)})));

  // Overlaps its own current item only: allowed.
  BookingPatch shift;
  shift.items = std::vector<Item>{At("r", kT0 + kHour, kT0 + 3 * kHour)};
  shift.metadata_json = R"({"moved":true})";
  const Booking moved = BookingOf(Exec(*store_, PatchBooking{b.id, 1, shift}));
  EXPECT_EQ(moved.version, 2);
  EXPECT_EQ(moved.items, *shift.items);
  EXPECT_EQ(moved.metadata_json, R"({"moved":true})");
  // The old span is free, the new one taken.
  BookingOf(Exec(*store_, MakeBooking({At("r", kT0, kT0 + kHour)})));
  EXPECT_EQ(CodeOf(Exec(*store_, MakeBooking({At("r", kT0 + kHour, kT0 + 2 * kHour)}))),
            Errc::kUnavailable);

  // Overlapping someone else's booking is refused, and the old items still count.
  BookingPatch clash;
  clash.items = std::vector<Item>{At("r", kT0 + 2 * kHour, kT0 + 4 * kHour)};
  EXPECT_EQ(CodeOf(Exec(*store_, PatchBooking{b.id, 2, clash})), Errc::kUnavailable);
  EXPECT_EQ(store_->GetBooking(kTenant, b.id)->version, 2);
  EXPECT_EQ(CodeOf(Exec(*store_, MakeBooking({At("r", kT0 + kHour, kT0 + 2 * kHour)}))),
            Errc::kUnavailable);

  // Moving to another resource frees the first one.
  BookingPatch elsewhere;
  elsewhere.items = std::vector<Item>{At("q", kT0 + kHour, kT0 + 3 * kHour)};
  BookingOf(Exec(*store_, PatchBooking{b.id, 2, elsewhere}));
  BookingOf(Exec(*store_, MakeBooking({At("r", kT0 + kHour, kT0 + 3 * kHour)})));
  EXPECT_EQ(UnitsInUse(*store_, "q", {kT0, kT0 + 5 * kHour}, kT0), 1);

  // Patching a cancelled booking is an invalid transition.
  BookingOf(Exec(*store_, TransitionBooking{other.id, Transition::kCancel, {}}));
  EXPECT_EQ(CodeOf(Exec(*store_, PatchBooking{other.id, 2, shift})), Errc::kInvalidTransition);
}

TEST_P(StoreConformance, BookingsLongBeforeNowAreCheckedAgainstTheDatabase) {
  AddResource("r", 1);
  const Item old_slot = At("r", kT0 - 10 * 86400, kT0 - 10 * 86400 + kHour);
  BookingOf(Exec(*store_, MakeBooking({old_slot})));
  // A fresh writer caches only recent usages; an item far in the past must
  // still see the booking already there.
  Reopen();
  EXPECT_EQ(CodeOf(Exec(*store_, MakeBooking({At("r", kT0, kT0 + kHour), old_slot}))),
            Errc::kUnavailable);
  BookingOf(Exec(*store_, MakeBooking({At("r", kT0, kT0 + kHour)})));
}

// ---- Concurrency ------------------------------------------------------------

// 64 threads race 2,000 bookings for the same hour of a capacity-10 resource.
TEST_P(StoreConformance, CapacityIsNeverExceededUnderConcurrentSubmits) {
  AddResource("hot", 10);
  constexpr int kThreads = 64;
  constexpr int kBookings = 2000;
  std::atomic<int> ok{0}, unavailable{0}, other{0};
  std::atomic<int> done{0};
  std::promise<void> all_done;

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kBookings; i += kThreads) {
        Command cmd;
        cmd.tenant = kTenant;
        // Staggered but all overlapping [kT0 + 1h, kT0 + 2h).
        cmd.op = MakeBooking({At("hot", kT0 + kHour - (i % 7) * 60, kT0 + 2 * kHour + i % 5)});
        cmd.done = [&](WriteOutcome out) {
          const Error* e = ErrorOf(out);
          if (e == nullptr) {
            ok.fetch_add(1);
          } else if (e->code == Errc::kUnavailable) {
            unavailable.fetch_add(1);
          } else {
            other.fetch_add(1);
          }
          if (done.fetch_add(1) + 1 == kBookings) all_done.set_value();
        };
        store_->Submit(std::move(cmd));
      }
    });
  }
  for (auto& t : threads) t.join();
  all_done.get_future().wait();

  EXPECT_EQ(ok.load(), 10);
  EXPECT_EQ(unavailable.load(), kBookings - 10);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(UnitsInUse(*store_, "hot", {kT0 + kHour, kT0 + kHour + 1}, kT0), 10);
}

TEST_P(StoreConformance, BatchesGroupManyCommandsUnderLoad) {
  AddResource("big", 1000000);
  const StoreStats before = store_->Stats();
  constexpr int kThreads = 16;
  constexpr int kBookings = 2000;
  std::atomic<int> ok{0}, done{0};
  std::promise<void> all_done;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kBookings; i += kThreads) {
        Command cmd;
        cmd.tenant = kTenant;
        cmd.op = MakeBooking({At("big", kT0 + i * 60, kT0 + i * 60 + kHour)});
        cmd.done = [&](WriteOutcome out) {
          if (ErrorOf(out) == nullptr) ok.fetch_add(1);
          if (done.fetch_add(1) + 1 == kBookings) all_done.set_value();
        };
        store_->Submit(std::move(cmd));
      }
    });
  }
  for (auto& t : threads) t.join();
  all_done.get_future().wait();
  EXPECT_EQ(ok.load(), kBookings);

  const StoreStats after = store_->Stats();
  const std::uint64_t batches = after.batches - before.batches;
  const std::uint64_t commands = after.batched_commands - before.batched_commands;
  EXPECT_EQ(commands, static_cast<std::uint64_t>(kBookings));
  // Submitting never waits for a commit, so while one batch is being made
  // durable the next fills up: far fewer batches than commands.
  EXPECT_LT(batches * 4, commands);
  std::uint64_t bucketed = 0;
  for (auto n : after.batch_size_buckets) bucketed += n;
  EXPECT_EQ(bucketed, after.batches);
  EXPECT_EQ(after.batch_size_buckets.size(), BatchSizeBounds().size() + 1);
}

// Two store instances on one database stand for two processes, each with its
// own writer and caches. A decision taken by one must see the other's writes.
TEST_P(StoreConformance, TwoStoresOnOneDatabaseSeeEachOthersBookings) {
  std::unique_ptr<Store> second = Open("main");
  ASSERT_NE(second, nullptr);
  AddResource("shared", 10);
  const Item slot = At("shared", kT0 + kHour, kT0 + 2 * kHour);

  // The first store caches the ledger with 9 units in use...
  BookingOf(Exec(*store_, MakeBooking({At("shared", slot.start, slot.end, 9)})));
  // ...the second takes the last unit...
  BookingOf(Exec(*second, MakeBooking({slot})));
  // ...and the first must notice instead of trusting its cache.
  EXPECT_EQ(CodeOf(Exec(*store_, MakeBooking({slot}))), Errc::kUnavailable);

  // A capacity change by one is seen by the other too.
  ResourcePatch bigger;
  bigger.capacity = 12;
  ResourceOf(Exec(*second, PatchResource{"shared", 1, bigger}));
  BookingOf(Exec(*store_, MakeBooking({At("shared", slot.start, slot.end, 2)})));
  EXPECT_EQ(CodeOf(Exec(*second, MakeBooking({slot}))), Errc::kUnavailable);
  second->Close();
}

TEST_P(StoreConformance, TwoStoresRacingForTheLastUnitsNeverOversell) {
  std::unique_ptr<Store> second = Open("main");
  ASSERT_NE(second, nullptr);
  AddResource("contested", 10);
  BookingOf(Exec(*store_, MakeBooking({At("contested", kT0, kT0 + kHour, 4)})));

  constexpr int kPerThread = 60;
  std::atomic<int> ok{0}, other{0};
  std::vector<std::thread> threads;
  for (Store* s : {store_.get(), second.get(), store_.get(), second.get()}) {
    threads.emplace_back([&, s] {
      for (int i = 0; i < kPerThread; ++i) {
        const auto out = Exec(*s, MakeBooking({At("contested", kT0 + i, kT0 + kHour + i)}));
        if (ErrorOf(out) == nullptr) {
          ok.fetch_add(1);
        } else if (ErrorOf(out)->code != Errc::kUnavailable) {
          other.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 6);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(UnitsInUse(*second, "contested", {kT0 + kHour - 1, kT0 + kHour}, kT0), 10);
  second->Close();
}

// ---- Idempotency ------------------------------------------------------------

StoredResponse RenderForTest(const WriteOutcome& out) {
  if (const Error* e = ErrorOf(out)) return {409, "error:" + e->detail, "application/json", "", ""};
  const Booking* b = std::get_if<Booking>(&out.value);
  return {201, b ? b->id : "?", "application/json", b ? "/v1/bookings/" + b->id : "", "\"1\""};
}

Command IdempotentBooking(Operation op, std::string key, std::string hash) {
  Command cmd;
  cmd.tenant = kTenant;
  cmd.op = std::move(op);
  cmd.idempotency = Idempotency{"k_test", std::move(key), std::move(hash)};
  cmd.render = RenderForTest;
  return cmd;
}

TEST_P(StoreConformance, IdempotencyKeyReplaysMismatchesAndSurvivesReopen) {
  AddResource("r", 5);
  const Operation op = MakeBooking({At("r", kT0, kT0 + kHour)});
  const WriteOutcome first = SubmitAndWait(*store_, IdempotentBooking(op, "key-1", "h1"));
  const Booking b = BookingOf(first);
  EXPECT_FALSE(first.replay.has_value());

  const WriteOutcome second = SubmitAndWait(*store_, IdempotentBooking(op, "key-1", "h1"));
  ASSERT_TRUE(second.replay.has_value());
  EXPECT_EQ(second.replay->status, 201);
  EXPECT_EQ(second.replay->body, b.id);
  EXPECT_EQ(second.replay->location, "/v1/bookings/" + b.id);
  EXPECT_EQ(second.replay->etag, "\"1\"");
  EXPECT_EQ(UnitsInUse(*store_, "r", {kT0, kT0 + kHour}, kT0), 1);  // no second booking

  const WriteOutcome reused = SubmitAndWait(*store_, IdempotentBooking(op, "key-1", "h2"));
  EXPECT_EQ(CodeOf(reused), Errc::kIdempotencyKeyReused);

  // Errors are answers too, and are replayed as such.
  const Operation bad = MakeBooking({At("ghost", kT0, kT0 + kHour)});
  EXPECT_EQ(CodeOf(SubmitAndWait(*store_, IdempotentBooking(bad, "key-2", "h3"))),
            Errc::kValidation);

  Reopen();
  const WriteOutcome after = SubmitAndWait(*store_, IdempotentBooking(op, "key-1", "h1"));
  ASSERT_TRUE(after.replay.has_value());
  EXPECT_EQ(after.replay->body, b.id);
  const WriteOutcome bad_again = SubmitAndWait(*store_, IdempotentBooking(bad, "key-2", "h3"));
  ASSERT_TRUE(bad_again.replay.has_value());
  EXPECT_EQ(bad_again.replay->status, 409);

  // After 24 hours the key is forgotten and the request runs again.
  clock_.Advance(86400 + 1);
  const WriteOutcome later = SubmitAndWait(*store_, IdempotentBooking(op, "key-1", "h1"));
  EXPECT_FALSE(later.replay.has_value());
  EXPECT_NE(BookingOf(later).id, b.id);
}

TEST_P(StoreConformance, IdempotencyKeyInFlightIsAConflict) {
  AddResource("r", 5);
  const Operation op = MakeBooking({At("r", kT0, kT0 + kHour)});
  // The renderer runs while the first command is executing: a second submit
  // with the same key at that moment is in flight by construction.
  std::promise<WriteOutcome> inner;
  Command first = IdempotentBooking(op, "dup", "h");
  first.render = [&](const WriteOutcome& out) {
    Command again = IdempotentBooking(op, "dup", "h");
    again.done = [&](WriteOutcome o) { inner.set_value(std::move(o)); };
    store_->Submit(std::move(again));
    return RenderForTest(out);
  };
  BookingOf(SubmitAndWait(*store_, std::move(first)));
  const WriteOutcome concurrent = inner.get_future().get();
  EXPECT_EQ(CodeOf(concurrent), Errc::kConflict);

  // Once answered, the same key replays.
  EXPECT_TRUE(SubmitAndWait(*store_, IdempotentBooking(op, "dup", "h")).replay.has_value());
}

// ---- Durability and keys -----------------------------------------------------

TEST_P(StoreConformance, ReopeningKeepsEverythingAcknowledged) {
  AddResource("r", 3);
  const Booking a = BookingOf(Exec(*store_, MakeBooking({At("r", kT0, kT0 + kHour, 2)})));
  const Booking h = BookingOf(Exec(*store_, MakeBooking({At("r", kT0, kT0 + kHour)}, 600)));
  Reopen();
  auto got = store_->GetBooking(kTenant, a.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->items, a.items);
  EXPECT_EQ(store_->GetBooking(kTenant, h.id)->expires_at, kT0 + 600);
  EXPECT_EQ(store_->GetResource(kTenant, "r")->capacity, 3);
  // The reopened writer rebuilds its ledgers from the database.
  EXPECT_EQ(CodeOf(Exec(*store_, MakeBooking({At("r", kT0, kT0 + kHour)}))), Errc::kUnavailable);
  auto more = Exec(*store_, MakeBooking({At("r", kT0 + kHour, kT0 + 2 * kHour)}));
  EXPECT_GT(BookingOf(more).seq, h.seq);
}

TEST_P(StoreConformance, KeysAreFoundByHashUntilRevoked) {
  auto admin = store_->CreateKey(kTenant, Role::kAdmin, "hash-admin");
  ASSERT_TRUE(admin.ok());
  auto booking = store_->CreateKey(kTenant, Role::kBooking, "hash-booking");
  ASSERT_TRUE(booking.ok());
  EXPECT_NE(admin->id, booking->id);
  EXPECT_EQ(store_->CreateKey(kTenant, Role::kAdmin, "hash-admin").error().code, Errc::kConflict);

  auto found = store_->FindKey("hash-booking");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->id, booking->id);
  EXPECT_EQ(found->role, Role::kBooking);
  EXPECT_EQ(found->tenant, kTenant);
  EXPECT_EQ(store_->FindKey("hash-nope").error().code, Errc::kNotFound);

  EXPECT_TRUE(store_->RevokeKey(booking->id).ok());
  EXPECT_TRUE(store_->RevokeKey(booking->id).ok());
  EXPECT_EQ(store_->RevokeKey("k_nope").error().code, Errc::kNotFound);
  EXPECT_EQ(store_->FindKey("hash-booking").error().code, Errc::kNotFound);
  auto keys = store_->ListKeys();
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 2u);
  int revoked = 0;
  for (const auto& k : *keys) revoked += k.revoked ? 1 : 0;
  EXPECT_EQ(revoked, 1);
  EXPECT_TRUE(store_->Ready());
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreConformance,
                         ::testing::Values(SqliteFactory(true), SqliteFactory(false),
                                           PostgresFactory()),
                         [](const auto& info) { return info.param.backend; });

// ---- Tenants ----------------------------------------------------------------
// Goal: tenant B can neither see nor change anything of tenant A's through
// any Store read or command, so that the API answers 404 and leaks nothing.
// Method: A writes a resource, a held and a confirmed booking and an
// idempotent booking; every read and command is then tried with tenant B on
// A's ids, and A's objects are checked unchanged afterwards.

Command IdempotentFor(const std::string& tenant, const std::string& key_id, Operation op,
                      std::string key, std::string hash) {
  Command cmd;
  cmd.tenant = tenant;
  cmd.op = std::move(op);
  cmd.idempotency = Idempotency{key_id, std::move(key), std::move(hash)};
  cmd.render = [](const WriteOutcome& out) {
    const Booking* b = std::get_if<Booking>(&out.value);
    return StoredResponse{201, b ? b->id : "?", "application/json", "", ""};
  };
  return cmd;
}

TEST_P(StoreConformance, TenantsSeeNothingOfEachOther) {
  const std::string a = "tenant-a", b = "tenant-b";
  ResourceOf(Exec(*store_, CreateResource{MakeResource("room", 2)}, a));
  const Booking held =
      BookingOf(Exec(*store_, MakeBooking({At("room", kT0, kT0 + kHour)}, 600, "alice"), a));
  const Booking confirmed =
      BookingOf(Exec(*store_, MakeBooking({At("room", kT0, kT0 + kHour)}, {}, "alice"), a));

  // Reads: not found, empty.
  EXPECT_EQ(store_->GetResource(b, "room").error().code, Errc::kNotFound);
  EXPECT_EQ(store_->GetBooking(b, held.id).error().code, Errc::kNotFound);
  EXPECT_EQ(store_->GetBooking(b, confirmed.id).error().code, Errc::kNotFound);
  EXPECT_TRUE(store_->ListResources(b, "", 100)->data.empty());
  EXPECT_TRUE(store_->ListBookings(b, BookingQuery{}, kT0)->data.empty());
  EXPECT_TRUE(store_->ListBookings(b, Q([](BookingQuery& q) { q.resource_id = "room"; }), kT0)
                  ->data.empty());
  EXPECT_TRUE(
      store_->ListBookings(b, Q([](BookingQuery& q) { q.customer = "alice"; }), kT0)->data.empty());
  auto usages = store_->Usages(b, "room", {kT0 - kHour, kT0 + 2 * kHour}, kT0);
  ASSERT_TRUE(usages.ok());
  EXPECT_TRUE(usages->empty());

  // Commands on A's ids: not found, never a precondition or transition error.
  PatchResource rename{"room", 1, {}};
  rename.patch.name = "taken over";
  EXPECT_EQ(CodeOf(Exec(*store_, rename, b)), Errc::kNotFound);
  EXPECT_EQ(CodeOf(Exec(*store_, DeleteResource{"room", std::nullopt}, b)), Errc::kNotFound);
  PatchBooking move{held.id, 1, {}};
  move.patch.customer = std::optional<std::string>("mallory");
  EXPECT_EQ(CodeOf(Exec(*store_, move, b)), Errc::kNotFound);
  for (Transition t : {Transition::kConfirm, Transition::kCancel}) {
    EXPECT_EQ(CodeOf(Exec(*store_, TransitionBooking{held.id, t, std::nullopt}, b)),
              Errc::kNotFound);
    EXPECT_EQ(CodeOf(Exec(*store_, TransitionBooking{confirmed.id, t, 1}, b)), Errc::kNotFound);
  }
  // A's resource id is unknown to B: a booking naming it is invalid for B.
  EXPECT_EQ(CodeOf(Exec(*store_, MakeBooking({At("room", kT0, kT0 + kHour)}), b)),
            Errc::kValidation);

  // A's objects are untouched.
  EXPECT_EQ(store_->GetResource(a, "room")->version, 1);
  EXPECT_EQ(store_->GetResource(a, "room")->name, "Room room");
  auto held_now = store_->GetBooking(a, held.id);
  ASSERT_TRUE(held_now.ok());
  EXPECT_EQ(held_now->status, BookingStatus::kHeld);
  EXPECT_EQ(held_now->version, 1);
  EXPECT_EQ(held_now->customer, "alice");
  EXPECT_EQ(store_->GetBooking(a, confirmed.id)->status, BookingStatus::kConfirmed);
  EXPECT_EQ(store_->Usages(a, "room", {kT0, kT0 + kHour}, kT0)->size(), 2u);

  // Ids are per tenant: B's own "room" is another resource with its own
  // capacity, and filling it leaves A's full room and A's lists as they were.
  const Resource theirs = ResourceOf(Exec(*store_, CreateResource{MakeResource("room", 1)}, b));
  EXPECT_EQ(theirs.tenant, b);
  const Booking b_booking =
      BookingOf(Exec(*store_, MakeBooking({At("room", kT0, kT0 + kHour)}), b));
  EXPECT_EQ(CodeOf(Exec(*store_, MakeBooking({At("room", kT0, kT0 + kHour)}), b)),
            Errc::kUnavailable);
  EXPECT_EQ(CodeOf(Exec(*store_, MakeBooking({At("room", kT0, kT0 + kHour)}), a)),
            Errc::kUnavailable);
  EXPECT_EQ(store_->GetBooking(a, b_booking.id).error().code, Errc::kNotFound);
  EXPECT_EQ(store_->ListBookings(a, BookingQuery{}, kT0)->data.size(), 2u);
  EXPECT_EQ(store_->ListBookings(b, BookingQuery{}, kT0)->data.size(), 1u);
  EXPECT_EQ(store_->GetResource(a, "room")->capacity, 2);

  // Cancelling B's booking frees B's unit, not A's.
  BookingOf(Exec(*store_, TransitionBooking{b_booking.id, Transition::kCancel, std::nullopt}, b));
  EXPECT_EQ(CodeOf(Exec(*store_, MakeBooking({At("room", kT0, kT0 + kHour)}), a)),
            Errc::kUnavailable);
  BookingOf(Exec(*store_, MakeBooking({At("room", kT0, kT0 + kHour)}), b));

  // Deleting B's resource leaves A's.
  ResourceOf(Exec(*store_, CreateResource{MakeResource("spare", 1)}, b));
  EXPECT_EQ(CodeOf(Exec(*store_, DeleteResource{"spare", std::nullopt}, a)), Errc::kNotFound);
  EXPECT_TRUE(store_->GetResource(b, "spare").ok());
}

TEST_P(StoreConformance, IdempotencyKeysOfTwoTenantsAreIndependent) {
  AddResource("r", 5);
  ResourceOf(Exec(*store_, CreateResource{MakeResource("r", 5)}, "tenant-b"));
  const Operation op = MakeBooking({At("r", kT0, kT0 + kHour)});

  const WriteOutcome first = SubmitAndWait(*store_, IdempotentFor(kTenant, "k_a", op, "k", "h"));
  const Booking mine = BookingOf(first);
  EXPECT_FALSE(first.replay.has_value());

  // The same Idempotency-Key and body from tenant B's key runs as B's own
  // request: a new booking in B, not A's answer.
  const WriteOutcome other = SubmitAndWait(*store_, IdempotentFor("tenant-b", "k_b", op, "k", "h"));
  EXPECT_FALSE(other.replay.has_value());
  const Booking theirs = BookingOf(other);
  EXPECT_NE(theirs.id, mine.id);
  EXPECT_EQ(theirs.tenant, "tenant-b");
  EXPECT_TRUE(store_->GetBooking("tenant-b", theirs.id).ok());
  EXPECT_EQ(store_->GetBooking(kTenant, theirs.id).error().code, Errc::kNotFound);
  EXPECT_EQ(UnitsInUse(*store_, "r", {kT0, kT0 + kHour}, kT0), 1);

  // Each key still replays its own first answer.
  const WriteOutcome again = SubmitAndWait(*store_, IdempotentFor(kTenant, "k_a", op, "k", "h"));
  ASSERT_TRUE(again.replay.has_value());
  EXPECT_EQ(again.replay->body, mine.id);
  const WriteOutcome again_b =
      SubmitAndWait(*store_, IdempotentFor("tenant-b", "k_b", op, "k", "h"));
  ASSERT_TRUE(again_b.replay.has_value());
  EXPECT_EQ(again_b.replay->body, theirs.id);
}

TEST_P(StoreConformance, TenantsAreRegisteredListedAndRequiredByKeys) {
  auto initial = store_->ListTenants();
  ASSERT_TRUE(initial.ok()) << initial.error().detail;
  ASSERT_EQ(initial->size(), 1u);
  EXPECT_EQ((*initial)[0].id, kDefaultTenant);

  auto acme = store_->CreateTenant("acme", "Acme Inc.");
  ASSERT_TRUE(acme.ok()) << acme.error().detail;
  EXPECT_EQ(acme->id, "acme");
  EXPECT_EQ(acme->name, "Acme Inc.");
  EXPECT_EQ(acme->created_at, kT0);
  EXPECT_EQ(store_->CreateTenant("acme", "again").error().code, Errc::kConflict);
  EXPECT_EQ(store_->CreateTenant(kDefaultTenant, "").error().code, Errc::kConflict);
  EXPECT_EQ(store_->CreateTenant("Beta.2_x-y", "")->name, "Beta.2_x-y");  // name defaults to id
  for (const std::string& bad :
       std::vector<std::string>{"", "-lead", "sp ace", "slash/x", std::string(65, 'a')}) {
    EXPECT_EQ(store_->CreateTenant(bad, "x").error().code, Errc::kValidation) << bad;
  }
  EXPECT_EQ(store_->CreateTenant("longname", std::string(201, 'n')).error().code,
            Errc::kValidation);

  // A key needs a registered tenant, and a refused key leaves nothing behind.
  EXPECT_EQ(store_->CreateKey("ghost", Role::kAdmin, "hash-ghost").error().code, Errc::kNotFound);
  EXPECT_EQ(store_->FindKey("hash-ghost").error().code, Errc::kNotFound);
  EXPECT_TRUE(store_->ListKeys()->empty());
  auto key = store_->CreateKey("acme", Role::kBooking, "hash-acme");
  ASSERT_TRUE(key.ok()) << key.error().detail;
  EXPECT_EQ(store_->FindKey("hash-acme")->tenant, "acme");

  Reopen();
  auto tenants = store_->ListTenants();
  ASSERT_TRUE(tenants.ok());
  std::vector<std::string> ids;
  for (const Tenant& t : *tenants) ids.push_back(t.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"Beta.2_x-y", "acme", "default"}));  // byte order
}

}  // namespace
}  // namespace bookd::storage
