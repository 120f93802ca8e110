// PostgreSQL implementation of Store: the same contract as the SQLite store,
// for any number of bookd hosts sharing one database. See the design comment
// at the top of pg_store.cc.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "common/result.h"
#include "domain/time.h"
#include "storage/store.h"

namespace bookd::storage {

struct PgOptions {
  std::string url;            // postgres://user@host:port/db?... (libpq syntax)
  std::size_t pool_size = 8;  // read connections; the writers have their own
  std::size_t batch_commands_max = 512;
  std::size_t queue_commands_max = 100000;
  int connect_timeout_s = 3;
  int statement_timeout_ms = 5000;
};

// Connects, applies pending migrations and starts the writers. Fails with
// kOverloaded when the database cannot be reached.
Result<std::unique_ptr<Store>> OpenPgStore(const PgOptions& options, const domain::Clock& clock);

}  // namespace bookd::storage
