// SQLite-specific behaviour that the conformance suite cannot express:
// fault injection through a trigger, the bounded queue, migrations, the key
// cache across stores of one file, and the private column encodings.
#include "storage/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <thread>

#include "storage/codec.h"
#include "storage/schema.h"

namespace bookd::storage {
namespace {

using domain::Instant;

constexpr Instant kT0 = 1803369600;
const std::string kTenant = "default";

class FixedClock final : public domain::Clock {
 public:
  Instant Now() const override { return kT0; }
};

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bookd-sqlite-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    options_.path = (dir_ / "sub" / "b.db").string();  // the parent is created
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Store> Open() {
    auto s = OpenSqliteStore(options_, clock_);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().detail);
    return s.ok() ? std::move(*s) : nullptr;
  }

  // Runs SQL on the database file through a connection of its own.
  void Sql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(options_.path.c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
  }

  FixedClock clock_;
  std::filesystem::path dir_;
  SqliteOptions options_;
};

WriteOutcome SubmitAndWait(Store& store, Operation op) {
  std::promise<WriteOutcome> promise;
  Command cmd;
  cmd.tenant = kTenant;
  cmd.op = std::move(op);
  cmd.done = [&promise](WriteOutcome out) { promise.set_value(std::move(out)); };
  store.Submit(std::move(cmd));
  return promise.get_future().get();
}

CreateResource Room(std::string id, std::int64_t capacity) {
  Resource r;
  r.id = std::move(id);
  r.name = "room";
  r.capacity = capacity;
  return CreateResource{r};
}

CreateBooking Book(std::vector<domain::Item> items) {
  CreateBooking c;
  c.items = std::move(items);
  return c;
}

Errc CodeOf(const WriteOutcome& out) {
  const Error* e = std::get_if<Error>(&out.value);
  return e == nullptr ? Errc::kInternal : e->code;
}

bool IsOk(const WriteOutcome& out) { return !std::holds_alternative<Error>(out.value); }

// Goal: a command that fails midway through its SQL leaves no row behind and
// does not take the other commands of its batch down with it. Method: a
// trigger aborts the insert of the second item of one booking, after its
// booking row and first item were written; neighbours are submitted at once
// so that they share its batch.
TEST_F(SqliteStoreTest, CommandFailingMidwayLeavesNothingAndSparesItsBatch) {
  auto store = Open();
  ASSERT_TRUE(IsOk(SubmitAndWait(*store, Room("a", 100))));
  ASSERT_TRUE(IsOk(SubmitAndWait(*store, Room("boom", 100))));
  Sql("CREATE TRIGGER inject BEFORE INSERT ON booking_items WHEN NEW.resource_id = 'boom' "
      "BEGIN SELECT RAISE(ABORT, 'injected'); END;");

  constexpr int kNeighbours = 20;
  std::vector<std::promise<WriteOutcome>> results(kNeighbours + 1);
  for (int i = 0; i <= kNeighbours; ++i) {
    Command cmd;
    cmd.tenant = kTenant;
    if (i == kNeighbours / 2) {
      cmd.op = Book({{"a", kT0, kT0 + 60, 1}, {"boom", kT0, kT0 + 60, 1}});
    } else {
      cmd.op = Book({{"a", kT0 + i * 60, kT0 + i * 60 + 60, 1}});
    }
    cmd.done = [&results, i](WriteOutcome out) { results[i].set_value(std::move(out)); };
    store->Submit(std::move(cmd));
  }
  for (int i = 0; i <= kNeighbours; ++i) {
    const WriteOutcome out = results[i].get_future().get();
    if (i == kNeighbours / 2) {
      EXPECT_EQ(CodeOf(out), Errc::kInternal);
    } else {
      EXPECT_TRUE(IsOk(out)) << i << " " << (IsOk(out) ? "" : std::get<Error>(out.value).detail);
    }
  }
  auto all = store->ListBookings(kTenant, BookingQuery{}, kT0);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->data.size(), static_cast<std::size_t>(kNeighbours));
  for (const Booking& b : all->data) EXPECT_EQ(b.items.size(), 1u);
  auto usages = store->Usages(kTenant, "a", {kT0, kT0 + 60}, kT0);
  ASSERT_TRUE(usages.ok());
  EXPECT_EQ(usages->size(), 1u);  // the neighbour at i = 0 only
  store->Close();
}

// Goal: the queue is bounded and says so at once. Method: a renderer holds the
// writer inside its transaction while the queue fills up.
TEST_F(SqliteStoreTest, FullQueueAnswersOverloadedAtOnce) {
  options_.queue_commands_max = 2;
  auto store = Open();
  ASSERT_TRUE(IsOk(SubmitAndWait(*store, Room("a", 100))));

  std::promise<void> entered, release;
  auto released = release.get_future().share();
  std::promise<WriteOutcome> first;
  Command blocker;
  blocker.tenant = kTenant;
  blocker.op = Book({{"a", kT0, kT0 + 60, 1}});
  blocker.idempotency = Idempotency{"k", "block", "h"};
  blocker.render = [&](const WriteOutcome&) {
    entered.set_value();
    released.wait();
    return StoredResponse{201, "{}", "application/json", "", ""};
  };
  blocker.done = [&](WriteOutcome out) { first.set_value(std::move(out)); };
  store->Submit(std::move(blocker));
  entered.get_future().wait();

  std::vector<std::promise<WriteOutcome>> queued(3);
  for (int i = 0; i < 3; ++i) {
    Command cmd;
    cmd.tenant = kTenant;
    cmd.op = Book({{"a", kT0 + 3600, kT0 + 3660, 1}});
    cmd.done = [&queued, i](WriteOutcome out) { queued[i].set_value(std::move(out)); };
    store->Submit(std::move(cmd));
  }
  auto third = queued[2].get_future();
  ASSERT_EQ(third.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  const WriteOutcome overloaded = third.get();
  EXPECT_EQ(CodeOf(overloaded), Errc::kOverloaded);
  EXPECT_EQ(std::get<Error>(overloaded.value).retry_after_s, 1);
  EXPECT_EQ(store->Stats().queue_depth, 2u);

  release.set_value();
  EXPECT_TRUE(IsOk(first.get_future().get()));
  EXPECT_TRUE(IsOk(queued[0].get_future().get()));
  EXPECT_TRUE(IsOk(queued[1].get_future().get()));
  store->Close();
  // Closed: further writes are refused, never lost silently.
  Command late;
  late.tenant = kTenant;
  late.op = Room("late", 1);
  std::promise<WriteOutcome> late_result;
  late.done = [&](WriteOutcome out) { late_result.set_value(std::move(out)); };
  store->Submit(std::move(late));
  EXPECT_EQ(CodeOf(late_result.get_future().get()), Errc::kOverloaded);
}

TEST_F(SqliteStoreTest, MigrationsRunOnceAndConcurrentOpensAgree) {
  std::vector<std::thread> openers;
  std::atomic<int> opened{0};
  for (int i = 0; i < 4; ++i) {
    openers.emplace_back([&] {
      auto s = OpenSqliteStore(options_, clock_);
      if (s.ok()) {
        opened.fetch_add(1);
        (*s)->Close();
      } else {
        ADD_FAILURE() << "a concurrent open failed: " << s.error().detail;
      }
    });
  }
  for (auto& t : openers) t.join();
  EXPECT_EQ(opened.load(), 4);

  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->Ready());
  store->Close();

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(options_.path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), SchemaVersion());
  sqlite3_finalize(st);
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "wal");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST_F(SqliteStoreTest, NewerSchemaIsRefused) {
  Open()->Close();
  Sql("PRAGMA user_version = 99");
  auto s = OpenSqliteStore(options_, clock_);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().detail.find("newer"), std::string::npos);
}

// Goal: a key revoked through one store (standing for another process, such
// as `bookd keys revoke`) is refused at once by another store of the same
// file that had the key in its cache, and the cache is really used. Method:
// two stores, the key looked up in the first, revoked in the second, looked
// up in the first again; then a key deleted behind the stores' back with
// plain SQL, which only the cache can still answer.
TEST_F(SqliteStoreTest, KeyCacheSeesRevocationsOfOtherStoresAtOnce) {
  auto first = Open();
  auto second = Open();
  ASSERT_TRUE(first && second);
  auto key = first->CreateKey(kTenant, Role::kBooking, "hash-k");
  ASSERT_TRUE(key.ok());
  ASSERT_TRUE(first->FindKey("hash-k").ok());
  ASSERT_TRUE(second->RevokeKey(key->id).ok());
  auto again = first->FindKey("hash-k");
  ASSERT_FALSE(again.ok()) << "a revoked key was still accepted";
  EXPECT_EQ(again.error().code, Errc::kNotFound);

  ASSERT_TRUE(first->CreateKey(kTenant, Role::kAdmin, "hash-cached").ok());
  ASSERT_TRUE(first->FindKey("hash-cached").ok());
  Sql("DELETE FROM api_keys WHERE secret_hash = 'hash-cached'");
  EXPECT_TRUE(first->FindKey("hash-cached").ok()) << "the lookup did not come from the cache";
}

TEST(Codec, HoursAndClosuresRoundTrip) {
  domain::WeeklyHours hours;
  hours.days[0] = {{540, 1020}};
  hours.days[4] = {{0, 60}, {600, 1440}};
  auto back = DecodeHours(EncodeHours(hours));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, hours);

  const std::vector<domain::Interval> closures = {{kT0, kT0 + 86400}, {-5, 7}};
  auto cback = DecodeClosures(EncodeClosures(closures));
  ASSERT_TRUE(cback.ok());
  EXPECT_EQ(*cback, closures);
  EXPECT_TRUE(DecodeClosures("[]")->empty());

  EXPECT_FALSE(DecodeHours("[[],[]]").ok());
  EXPECT_FALSE(DecodeHours("not json").ok());
  EXPECT_FALSE(DecodeClosures("[[1,2,3]]").ok());
  EXPECT_FALSE(DecodeClosures("[[\"a\",2]]").ok());
}

}  // namespace
}  // namespace bookd::storage
