// PostgreSQL-specific behaviour the conformance suite cannot express: what
// happens when the database is unreachable, cuts connections, or makes a
// batch wait. Tests that need a server run when BOOKD_TEST_PG_URL names one
// (each in a fresh schema) and are skipped otherwise.
#include "storage/pg_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <string>

#include "storage/pg_conn.h"

namespace bookd::storage {
namespace {

using domain::Instant;

constexpr Instant kT0 = 1803369600;  // 2027-02-23T00:00:00Z

class FixedClock final : public domain::Clock {
 public:
  Instant Now() const override { return kT0; }
};

const char* TestUrl() {
  const char* url = std::getenv("BOOKD_TEST_PG_URL");
  return url != nullptr && *url != '\0' ? url : nullptr;
}

WriteOutcome SubmitAndWait(Store& store, Operation op) {
  std::promise<WriteOutcome> promise;
  Command cmd;
  cmd.tenant = "default";
  cmd.op = std::move(op);
  cmd.done = [&promise](WriteOutcome out) { promise.set_value(std::move(out)); };
  store.Submit(std::move(cmd));
  return promise.get_future().get();
}

const Error* ErrorOf(const WriteOutcome& out) { return std::get_if<Error>(&out.value); }

CreateBooking OneHour(const std::string& resource, Instant start) {
  CreateBooking c;
  c.items = {domain::Item{resource, start, start + 3600, 1}};
  return c;
}

// A fresh schema per test, named after the test; its connections carry the
// schema's name as application_name so that a test can cut exactly those.
class PgStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (TestUrl() == nullptr) GTEST_SKIP() << "BOOKD_TEST_PG_URL is not set";
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    schema_ = "bookd_pg_" + std::to_string(::getpid()) + "_" + info->name();
    for (char& c : schema_) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto admin = PgConn::Connect({TestUrl(), 3, 30000});
    ASSERT_TRUE(admin.ok()) << admin.error().detail;
    admin_ = std::move(*admin);
    ASSERT_TRUE(admin_
                    ->Exec("DROP SCHEMA IF EXISTS \"" + schema_ + "\" CASCADE; CREATE SCHEMA \"" +
                           schema_ + "\"")
                    .ok());
  }

  void TearDown() override {
    if (store_) store_->Close();
    store_.reset();
    if (admin_) (void)admin_->Exec("DROP SCHEMA IF EXISTS \"" + schema_ + "\" CASCADE");
  }

  PgOptions Options() const {
    const std::string url = TestUrl();
    PgOptions o;
    o.url = url + (url.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" +
            schema_ + "&application_name=" + schema_;
    o.pool_size = 2;
    return o;
  }

  void Open(const PgOptions& o) {
    auto s = OpenPgStore(o, clock_);
    ASSERT_TRUE(s.ok()) << s.error().detail;
    store_ = std::move(*s);
  }

  void AddResource(const std::string& id, std::int64_t capacity) {
    Resource r;
    r.id = id;
    r.name = id;
    r.capacity = capacity;
    const WriteOutcome out = SubmitAndWait(*store_, CreateResource{r});
    ASSERT_EQ(ErrorOf(out), nullptr) << ErrorOf(out)->detail;
  }

  // Closes every server connection of this test's store.
  void CutConnections() {
    ASSERT_TRUE(admin_
                    ->Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE application_name = '" +
                           schema_ + "'")
                    .ok());
  }

  FixedClock clock_;
  std::string schema_;
  std::unique_ptr<PgConn> admin_;
  std::unique_ptr<Store> store_;
};

TEST(PgStoreOpen, UnreachableDatabaseIsOverloadedWithoutHanging) {
  FixedClock clock;
  PgOptions o;
  o.url = "postgres://nobody@127.0.0.1:1/none";  // nothing listens on port 1
  o.connect_timeout_s = 2;
  const auto start = std::chrono::steady_clock::now();
  auto store = OpenPgStore(o, clock);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, Errc::kOverloaded);
  EXPECT_EQ(store.error().retry_after_s, 1);
  // Bounded by connect_timeout_s, with a wide margin for a loaded machine.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
}

TEST_F(PgStoreTest, MigrationsAreRecordedAndReopeningAppliesNothingTwice) {
  Open(Options());
  store_->Close();
  store_.reset();
  Open(Options());  // a second start finds the schema current
  auto version = admin_->Query(
      PgSql{"", "SELECT count(*), max(version) FROM \"" + schema_ + "\".schema_migrations"}, {});
  ASSERT_TRUE(version.ok()) << version.error().detail;
  EXPECT_EQ(version->Int(0, 0), version->Int(0, 1));
  EXPECT_GE(version->Int(0, 1), 1);
}

TEST_F(PgStoreTest, CutConnectionsAreReplacedWithoutLosingAcknowledgedBookings) {
  Open(Options());
  AddResource("room", 100);
  const WriteOutcome first = SubmitAndWait(*store_, OneHour("room", kT0));
  ASSERT_EQ(ErrorOf(first), nullptr);
  ASSERT_TRUE(store_->GetResource("default", "room").ok());  // a pooled read connection exists

  CutConnections();
  // The writer notices the cut before COMMIT and runs the batch again on a
  // new connection; a read on a cut pooled connection is retried likewise.
  const WriteOutcome second = SubmitAndWait(*store_, OneHour("room", kT0 + 3600));
  const Error* e = ErrorOf(second);
  EXPECT_TRUE(e == nullptr || e->code == Errc::kOverloaded) << (e ? e->detail : "");
  EXPECT_TRUE(store_->Ready());
  const WriteOutcome third = SubmitAndWait(*store_, OneHour("room", kT0 + 7200));
  EXPECT_EQ(ErrorOf(third), nullptr);

  auto got = store_->GetBooking("default", std::get<Booking>(first.value).id);
  ASSERT_TRUE(got.ok()) << got.error().detail;
  EXPECT_EQ(got->items.size(), 1u);
}

TEST_F(PgStoreTest, ABatchThatWaitsTooLongIsOverloadedAndLeavesNothing) {
  PgOptions o = Options();
  o.statement_timeout_ms = 300;
  Open(o);
  AddResource("busy", 1);
  // Another transaction holds the resource's row lock and does not let go.
  auto blocker = PgConn::Connect({TestUrl(), 3, 30000});
  ASSERT_TRUE(blocker.ok());
  ASSERT_TRUE(
      (*blocker)
          ->Exec("BEGIN; SELECT 1 FROM \"" + schema_ + "\".resources WHERE id = 'busy' FOR UPDATE")
          .ok());

  const auto start = std::chrono::steady_clock::now();
  const WriteOutcome out = SubmitAndWait(*store_, OneHour("busy", kT0));
  ASSERT_NE(ErrorOf(out), nullptr);
  EXPECT_EQ(ErrorOf(out)->code, Errc::kOverloaded);
  EXPECT_EQ(ErrorOf(out)->retry_after_s, 1);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));

  ASSERT_TRUE((*blocker)->Exec("ROLLBACK").ok());
  auto usages = store_->Usages("default", "busy", {kT0, kT0 + 3600}, kT0);
  ASSERT_TRUE(usages.ok());
  EXPECT_TRUE(usages->empty());  // the refused batch wrote nothing
  EXPECT_EQ(ErrorOf(SubmitAndWait(*store_, OneHour("busy", kT0))), nullptr);
}

TEST_F(PgStoreTest, SeveralHostsStartingTogetherMigrateOnce) {
  std::vector<std::future<Result<std::unique_ptr<Store>>>> opening;
  for (int i = 0; i < 4; ++i) {
    opening.push_back(
        std::async(std::launch::async, [this] { return OpenPgStore(Options(), clock_); }));
  }
  for (auto& f : opening) {
    auto s = f.get();
    ASSERT_TRUE(s.ok()) << s.error().detail;
    (*s)->Close();
  }
}

}  // namespace
}  // namespace bookd::storage
