// WAL checkpoints off the write path.
//
// By default SQLite checkpoints inside the COMMIT that pushes the WAL past
// 1,000 pages: the writer copies those pages into the database file and
// fsyncs it while every queued booking waits. A Checkpointer takes that work
// to a thread and a connection of its own. Attached to the writer's
// connection, it replaces the automatic checkpoint with a WAL hook that only
// signals the thread when the WAL has grown by `frames_per_checkpoint` pages;
// the thread then runs a PASSIVE checkpoint, which never blocks the writer
// (SQLite's checkpoint and write locks are distinct) and copies whatever
// frames no reader still needs. SQLite restarts the WAL from its beginning
// at the next write once a checkpoint has copied everything.
//
// A passive checkpoint copies the frames committed when it started, and the
// writer keeps appending meanwhile, so under a steady load the thread never
// quite reaches the end of the WAL and SQLite never restarts it. The hook
// therefore finishes the job on the writer: once the WAL holds twice the
// threshold and the thread has copied all but a few frames, the writer runs
// one passive checkpoint itself, which copies only that remainder, and its
// next transaction starts the WAL again from the beginning.
//
// The threshold is far above SQLite's 1,000 pages because a checkpoint
// copies each page once, however many of its frames it covers: bookings land
// on random leaves of the items index, and over 8,000 frames many leaves are
// written more than once, so the copy (a read from the WAL, a write to the
// database file) shrinks with the window. Measured under the uniform booking
// load, the checkpointer's CPU time per booking halves at 8,000 against
// 1,000. The price is a WAL near 2-3 times the threshold (64-96 MiB at 4 KiB
// pages), a file SQLite keeps at that size once grown.
//
// Bound: should the thread fall behind (a slow disk, a reader holding an old
// snapshot), the hook checkpoints on the writer itself once the WAL reaches
// `frames_inline_max`, as SQLite would have, so the WAL cannot grow without
// limit. Durability is untouched: a commit is durable once its WAL frames
// are fsynced, whether or not they were checkpointed.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/result.h"
#include "storage/sqlite_db.h"

namespace bookd::storage {

class Checkpointer {
 public:
  struct Options {
    int frames_per_checkpoint = 8000;  // 32 MiB of WAL at 4 KiB pages
    int frames_inline_max = 64000;     // 256 MiB
  };

  // Opens the checkpointing connection to `path` and starts its thread.
  static Result<std::unique_ptr<Checkpointer>> Open(const std::string& path, int busy_timeout_ms,
                                                    Options options);
  static Result<std::unique_ptr<Checkpointer>> Open(const std::string& path, int busy_timeout_ms) {
    return Open(path, busy_timeout_ms, Options{});
  }
  ~Checkpointer();  // stops and joins the thread

  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // Installs the WAL hook on the writer's connection (replacing SQLite's
  // automatic checkpoint). The hook runs on the writer's thread; `writer`
  // must be detached (Detach) or closed before this object is destroyed.
  void Attach(sqlite3* writer);
  static void Detach(sqlite3* writer);

  // Checkpoints completed by the thread and by the writer itself.
  std::uint64_t background_checkpoints() const { return background_.load(); }
  std::uint64_t inline_checkpoints() const { return inline_.load(); }

 private:
  Checkpointer(Db db, Options options);
  static int OnCommit(void* self, sqlite3* db, const char* schema, int frames);
  void Run();

  Db db_;  // used by thread_ only
  // Held by whoever runs a checkpoint in this process, the thread or the
  // writer; a passive checkpoint never waits on SQLite, so it is held briefly.
  std::mutex running_;
  const Options options_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool wanted_ = false;            // GUARDED_BY(mu_)
  bool stopping_ = false;          // GUARDED_BY(mu_)
  int frames_at_last_signal_ = 0;  // writer thread only
  int frames_last_seen_ = 0;       // writer thread only
  std::atomic<int> copied_{0};     // frames the thread's last checkpoint reached
  std::atomic<std::uint64_t> background_{0};
  std::atomic<std::uint64_t> inline_{0};
  std::thread thread_;
};

}  // namespace bookd::storage
