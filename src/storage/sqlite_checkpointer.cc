#include "storage/sqlite_checkpointer.h"

#include <algorithm>
#include <utility>

#include "common/thread_name.h"
#include "storage/schema.h"

namespace bookd::storage {
namespace {

// After a checkpoint that copied frames but not all of them (the writer kept
// appending), the thread goes again at once, this many times at most, so that
// it catches up with the end of the WAL and SQLite can restart it.
constexpr int kCatchUpRoundsMax = 8;
// Past the threshold the thread is woken every frames_per_checkpoint /
// kRemainderDivisor frames. The writer finishes a checkpoint itself when at
// most that many frames, and never more than kRemainderFramesMax, are left to
// copy: that copy delays the writer's next batch, so it stays near 1 MiB
// however large the threshold. (A smaller bound lets the WAL grow further
// before the writer finds the thread that close behind it.)
constexpr int kRemainderDivisor = 8;
constexpr int kRemainderFramesMax = 256;

}  // namespace

Result<std::unique_ptr<Checkpointer>> Checkpointer::Open(const std::string& path,
                                                         int busy_timeout_ms, Options options) {
  auto db = Db::Open(path, busy_timeout_ms);
  if (!db) return std::move(db).error();
  if (auto s = ConfigureConnection(*db); !s) return std::move(s).error();
  // This connection writes nothing; it must not checkpoint on its own either.
  sqlite3_wal_autocheckpoint(db->get(), 0);
  if (options.frames_per_checkpoint < 1) options.frames_per_checkpoint = 1;
  if (options.frames_inline_max < options.frames_per_checkpoint) {
    options.frames_inline_max = options.frames_per_checkpoint;
  }
  std::unique_ptr<Checkpointer> c(new Checkpointer(std::move(*db), options));
  c->thread_ = std::thread([raw = c.get()] {
    NameThisThread("bookd-checkpt");
    raw->Run();
  });
  return c;
}

Checkpointer::Checkpointer(Db db, Options options) : db_(std::move(db)), options_(options) {}

Checkpointer::~Checkpointer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void Checkpointer::Attach(sqlite3* writer) { sqlite3_wal_hook(writer, &OnCommit, this); }

void Checkpointer::Detach(sqlite3* writer) { sqlite3_wal_hook(writer, nullptr, nullptr); }

// Runs on the writer's thread after each commit, with the WAL's size in
// frames (pages). Its return value is an SQLite result code for the commit,
// which has already succeeded: a failed inline checkpoint is not reported
// there (the next commit tries again).
int Checkpointer::OnCommit(void* arg, sqlite3* db, const char* schema, int frames) {
  auto* self = static_cast<Checkpointer*>(arg);
  const Options& o = self->options_;
  if (frames < self->frames_last_seen_) {  // the WAL was restarted
    self->frames_at_last_signal_ = 0;
    self->copied_.store(0, std::memory_order_relaxed);
  }
  self->frames_last_seen_ = frames;
  const int behind = frames - self->copied_.load(std::memory_order_relaxed);
  const bool finish =
      frames >= 2 * o.frames_per_checkpoint && behind >= 0 &&
      behind <= std::min(o.frames_per_checkpoint / kRemainderDivisor, kRemainderFramesMax);
  if (finish || frames >= o.frames_inline_max) {
    // SQLite answers a checkpoint that finds another running with BUSY at
    // once; waiting here for the thread's to end makes this one certain.
    std::lock_guard running(self->running_);
    if (sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr) ==
        SQLITE_OK) {
      self->inline_.fetch_add(1, std::memory_order_relaxed);
    }
    return SQLITE_OK;
  }
  // Past the threshold the thread is woken every few frames, so that it stays
  // close behind the writer and the remainder left to the writer stays small.
  if (frames >= o.frames_per_checkpoint &&
      frames - self->frames_at_last_signal_ >= o.frames_per_checkpoint / kRemainderDivisor) {
    self->frames_at_last_signal_ = frames;
    {
      std::lock_guard lock(self->mu_);
      self->wanted_ = true;
    }
    self->wake_.notify_one();
  }
  return SQLITE_OK;
}

void Checkpointer::Run() {
  for (;;) {
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [this] { return stopping_ || wanted_; });
      if (stopping_) return;
      wanted_ = false;
    }
    int copied_before = -1;
    for (int round = 0; round < kCatchUpRoundsMax; ++round) {
      int frames = 0;
      int copied = 0;
      int rc;
      {
        std::lock_guard running(running_);
        rc = sqlite3_wal_checkpoint_v2(db_.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &frames,
                                       &copied);
      }
      if (rc != SQLITE_OK) break;  // busy or failing: the next signal tries again
      background_.fetch_add(1, std::memory_order_relaxed);
      copied_.store(copied, std::memory_order_relaxed);
      // Done when everything is copied, or when nothing more could be (a
      // reader still needs the rest, or the WAL was restarted meanwhile).
      if (copied >= frames || copied <= copied_before) break;
      copied_before = copied;
    }
  }
}

}  // namespace bookd::storage
