#include "cli/db_url.h"

#include <string_view>

#include "storage/pg_store.h"
#include "storage/sqlite_store.h"

namespace bookd::cli {

Result<std::unique_ptr<storage::Store>> OpenStore(const std::string& db_url,
                                                  const domain::Clock& clock,
                                                  const DbOptions& db_options) {
  std::string_view url = db_url;
  if (url.starts_with("postgres://") || url.starts_with("postgresql://")) {
    storage::PgOptions options;
    options.url = db_url;
    options.pool_size = db_options.pool_size;
    return storage::OpenPgStore(options, clock);
  }
  if (url.starts_with("sqlite:")) url.remove_prefix(7);
  if (url.empty()) return MakeError(Errc::kBadRequest, "--db names no database file");

  storage::SqliteOptions options;
  options.path = std::string(url);
  return storage::OpenSqliteStore(options, clock);
}

}  // namespace bookd::cli
