// Where the data lives: `sqlite:PATH`, a bare PATH (SQLite), or
// `postgres://...` / `postgresql://...` (PostgreSQL, libpq's URI syntax).
// Parsed once at start so that a typo fails before any socket is opened.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "common/result.h"
#include "domain/time.h"
#include "storage/store.h"

namespace bookd::cli {

// Settings that only some backends use; the defaults suit a single host.
struct DbOptions {
  std::size_t pool_size = 8;  // PostgreSQL: read connections per process (`--db-pool`)
};

Result<std::unique_ptr<storage::Store>> OpenStore(const std::string& db_url,
                                                  const domain::Clock& clock,
                                                  const DbOptions& options = {});

// `url` fit for a log line: a password in a postgres:// URL becomes "***".
std::string RedactedDbUrl(const std::string& url);

}  // namespace bookd::cli
