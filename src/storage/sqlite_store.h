// SQLite implementation of Store. One writer thread owns the write connection
// and commits commands in batches (group commit); reads use one connection per
// calling thread. WAL mode: a command's `done` runs only after the WAL holding
// its batch's COMMIT has been fsynced (by a sync thread, or by COMMIT itself
// with synchronous=FULL when pipelined_sync is off).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "common/result.h"
#include "domain/time.h"
#include "storage/store.h"

namespace bookd::storage {

struct SqliteOptions {
  std::string path;  // database file; parent directory is created
  std::size_t batch_commands_max = 1024;
  std::size_t queue_commands_max = 100000;
  int busy_timeout_ms = 5000;  // waiting for another process's write lock
  // WAL checkpoints on a thread of their own instead of inside the writer's
  // COMMIT (sqlite_checkpointer.h); false leaves SQLite's automatic one.
  bool background_checkpoints = true;
  // The writer commits with synchronous=NORMAL (COMMIT writes the WAL but
  // does not fsync it) and goes on with the next batch at once, while a sync
  // thread fsyncs the WAL and only then runs the `done` of every batch it
  // covers. false: synchronous=FULL, the writer waits for each fsync.
  bool pipelined_sync = true;
};

// Opens (creating and migrating as needed) the database at options.path.
Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options,
                                               const domain::Clock& clock);

}  // namespace bookd::storage
