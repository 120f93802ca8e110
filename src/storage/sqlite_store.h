// SQLite implementation of Store. One writer thread owns the write connection
// and commits commands in batches (group commit); reads use one connection per
// calling thread. WAL mode with synchronous=FULL: a command's `done` runs only
// after its batch's COMMIT has been fsynced.
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
};

// Opens (creating and migrating as needed) the database at options.path.
Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options,
                                               const domain::Clock& clock);

}  // namespace bookd::storage
