// The page cache wrapper skips the truncations that have nothing to drop,
// and still drops what a rollback leaves beyond the database's end.
#include "storage/sqlite_page_cache.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>

#include "storage/sqlite_db.h"

namespace bookd::storage {
namespace {

class PageCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bookd-pcache-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto db = Db::Open((dir_ / "p.db").string(), 5000);  // installs the wrapper
    ASSERT_TRUE(db.ok());
    db_ = std::move(*db);
    ASSERT_TRUE(db_.Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; "
                         "PRAGMA cache_size=-65536; "
                         "CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID")
                    .ok());
  }
  void TearDown() override {
    db_ = Db();
    std::filesystem::remove_all(dir_);
  }

  // Random keys: leaves split all over the tree, and balancing swaps page
  // numbers, lending pages the number above the lock byte.
  void InsertRandom(int n) {
    auto st = db_.Prepare("INSERT INTO t (k, v) VALUES (?1, ?2)");
    ASSERT_TRUE(st.ok());
    const std::string v(40, 'v');  // BindText keeps a view: the text must outlive the step
    for (int i = 0; i < n; ++i) {
      const std::string k = std::to_string(rng_()) + "-" + std::to_string(inserted_ + i);
      st->BindText(1, k);
      st->BindText(2, v);
      ASSERT_TRUE(st->Run("insert").ok());
    }
  }

  std::int64_t Count() { return *db_.QueryInt("SELECT count(*) FROM t"); }

  void ExpectIntact(std::int64_t rows) {
    EXPECT_EQ(Count(), rows);
    auto st = db_.Prepare("PRAGMA integrity_check");
    ASSERT_TRUE(st.ok());
    ASSERT_EQ(st->Step(), SQLITE_ROW);
    EXPECT_EQ(st->Text(0), "ok");
  }

  std::filesystem::path dir_;
  Db db_;
  std::mt19937_64 rng_{42};
  int inserted_ = 0;
};

TEST_F(PageCacheTest, CommitsSkipTheWalkThatHasNothingToDrop) {
  const PageCacheStats before = GetPageCacheStats();
  for (int txn = 0; txn < 50; ++txn) {
    ASSERT_TRUE(db_.Exec("BEGIN IMMEDIATE").ok());
    InsertRandom(200);
    inserted_ += 200;
    ASSERT_TRUE(db_.Exec("COMMIT").ok());
  }
  const PageCacheStats after = GetPageCacheStats();
  // Balancing lent the swap number, after which pcache1 alone would walk
  // its whole cache at the next COMMIT; every COMMIT skipped its walk.
  EXPECT_GT(after.swap_numbers_lent, before.swap_numbers_lent);
  EXPECT_GE(after.truncations_skipped - before.truncations_skipped, 50u);
  ExpectIntact(inserted_);
}

TEST_F(PageCacheTest, ARollbackStillDropsThePagesBeyondTheEnd) {
  ASSERT_TRUE(db_.Exec("BEGIN IMMEDIATE").ok());
  InsertRandom(2000);
  inserted_ += 2000;
  ASSERT_TRUE(db_.Exec("COMMIT").ok());
  const std::int64_t pages = *db_.QueryInt("PRAGMA page_count");

  const PageCacheStats before = GetPageCacheStats();
  ASSERT_TRUE(db_.Exec("BEGIN IMMEDIATE").ok());
  InsertRandom(5000);  // grows the file by many pages, all cached
  ASSERT_GT(*db_.QueryInt("PRAGMA page_count"), pages);
  ASSERT_TRUE(db_.Exec("ROLLBACK").ok());
  EXPECT_GT(GetPageCacheStats().truncations_forwarded, before.truncations_forwarded);
  EXPECT_EQ(*db_.QueryInt("PRAGMA page_count"), pages);
  ExpectIntact(inserted_);

  // The same page numbers are allocated again, and the tree stays whole.
  ASSERT_TRUE(db_.Exec("BEGIN IMMEDIATE").ok());
  InsertRandom(3000);
  inserted_ += 3000;
  ASSERT_TRUE(db_.Exec("COMMIT").ok());
  ExpectIntact(inserted_);
}

}  // namespace
}  // namespace bookd::storage
