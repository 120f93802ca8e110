// The checkpointer keeps the WAL bounded while taking the copying off the
// writer, and loses nothing.
#include "storage/sqlite_checkpointer.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "storage/schema.h"

namespace bookd::storage {
namespace {

class CheckpointerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bookd-ckpt-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = (dir_ / "c.db").string();
    auto db = Db::Open(path_, 5000);
    ASSERT_TRUE(db.ok());
    writer_ = std::move(*db);
    ASSERT_TRUE(writer_
                    .Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                          "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)")
                    .ok());
  }
  void TearDown() override {
    writer_ = Db();
    std::filesystem::remove_all(dir_);
  }

  // One transaction of about two pages.
  void Commit(int k) {
    ASSERT_TRUE(
        writer_.Exec("INSERT INTO t (k, v) VALUES (" + std::to_string(k) + ", zeroblob(6000))")
            .ok());
  }

  std::uintmax_t WalBytes() const {
    std::error_code ec;
    const auto n = std::filesystem::file_size(path_ + "-wal", ec);
    return ec ? 0 : n;
  }

  std::filesystem::path dir_;
  std::string path_;
  Db writer_;
};

TEST_F(CheckpointerTest, KeepsTheWalBoundedFromItsOwnThread) {
  Checkpointer::Options o;
  o.frames_per_checkpoint = 100;
  o.frames_inline_max = 1000;
  auto c = Checkpointer::Open(path_, 5000, o);
  ASSERT_TRUE(c.ok()) << c.error().detail;
  (*c)->Attach(writer_.get());

  constexpr int kCommits = 3000;  // about 6,000 frames: six times the inline bound
  std::uintmax_t largest = 0;
  for (int k = 0; k < kCommits; ++k) {
    Commit(k);
    largest = std::max(largest, WalBytes());
  }
  Checkpointer::Detach(writer_.get());

  // A WAL frame is a page plus a 24-byte header; the file never shrinks, so
  // its size is the largest the WAL has been. Without checkpoints it would
  // hold every frame (over 6,000); at most a transaction (3 frames) past
  // the inline bound, the writer has checkpointed and the WAL restarts.
  // With SQLite's own checkpoints the WAL would be bounded too, but the
  // thread would have done nothing.
  const std::uintmax_t frame = 4096 + 24;
  EXPECT_LE(largest, (o.frames_inline_max + 8) * frame + 32);
  EXPECT_GT((*c)->background_checkpoints(), 0u);

  auto count = writer_.QueryInt("SELECT count(*) FROM t");
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, kCommits);
}

TEST_F(CheckpointerTest, TheWriterCheckpointsItselfWhenTheThreadCannot) {
  // A reader that holds a snapshot from the start keeps every checkpoint
  // from copying past it, so the thread can do nothing; past the inline
  // bound, the writer's own attempts take over, and once the reader lets go
  // the WAL is restarted and stops growing.
  Checkpointer::Options o;
  o.frames_per_checkpoint = 50;
  o.frames_inline_max = 200;
  auto c = Checkpointer::Open(path_, 5000, o);
  ASSERT_TRUE(c.ok());
  (*c)->Attach(writer_.get());

  auto reader = Db::Open(path_, 5000);
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE(reader->Exec("BEGIN").ok());
  ASSERT_TRUE(reader->QueryInt("SELECT count(*) FROM t").ok());  // takes the snapshot
  for (int k = 0; k < 200; ++k) Commit(k);
  EXPECT_GT((*c)->inline_checkpoints(), 0u);
  ASSERT_TRUE(reader->Exec("COMMIT").ok());

  const std::uintmax_t after_reader = WalBytes();
  for (int k = 200; k < 1200; ++k) Commit(k);
  Checkpointer::Detach(writer_.get());
  // Restarted: the thousand commits since (over 2,000 frames) overwrote the
  // WAL from its start instead of growing it beyond a transaction or two.
  EXPECT_LE(WalBytes(), after_reader + 8 * 4120);
  auto count = writer_.QueryInt("SELECT count(*) FROM t");
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 1200);
}

}  // namespace
}  // namespace bookd::storage
