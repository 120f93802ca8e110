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

std::string RedactedDbUrl(const std::string& url) {
  // scheme://user:password@host/...: everything between the first ':' after
  // the scheme and the last '@' before the path is the password.
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return url;
  auto authority_start = scheme_end + 3;
  auto authority_end = url.find('/', authority_start);
  auto at = url.rfind('@', authority_end);
  if (at == std::string::npos || at < authority_start) return url;
  auto colon = url.find(':', authority_start);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

}  // namespace bookd::cli
