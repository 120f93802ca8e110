#include "storage/sqlite_db.h"

#include <utility>

#include "storage/sqlite_page_cache.h"

namespace bookd::storage {

Error SqlError(sqlite3* db, std::string_view what) {
  std::string detail = "storage: ";
  detail += what;
  if (db != nullptr) {
    detail += ": ";
    detail += sqlite3_errmsg(db);
  }
  return MakeError(Errc::kInternal, std::move(detail));
}

Stmt::Stmt(Stmt&& other) noexcept : db_(other.db_), stmt_(other.stmt_) {
  other.db_ = nullptr;
  other.stmt_ = nullptr;
}

Stmt& Stmt::operator=(Stmt&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = std::exchange(other.db_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
  }
  return *this;
}

Stmt::~Stmt() { sqlite3_finalize(stmt_); }

Status Stmt::Run(std::string_view what) {
  const int rc = Step();
  Reset();
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) return SqlError(db_, what);
  return Ok{};
}

std::string Stmt::Text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  if (p == nullptr) return {};
  return std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::optional<std::string> Stmt::OptText(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Text(col);
}

std::optional<std::int64_t> Stmt::OptInt(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Int(col);
}

Db& Db::operator=(Db&& other) noexcept {
  if (this != &other) {
    sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
  }
  return *this;
}

Db::~Db() { sqlite3_close_v2(db_); }

Result<Db> Db::Open(const std::string& path, int busy_timeout_ms) {
  // Memory statistics take a global mutex on every allocation; nothing here
  // reads them. The page cache is SQLite's own with one walk taken out of
  // COMMIT (sqlite_page_cache.h). Both are only possible before SQLite
  // initializes; later calls are refused harmlessly.
  static const bool configured = [] {
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    (void)InstallPageCache();
    return true;
  }();
  (void)configured;
  Db db;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db.db_, flags, nullptr) != SQLITE_OK) {
    return SqlError(db.db_, "open " + path);
  }
  sqlite3_extended_result_codes(db.db_, 1);
  sqlite3_busy_timeout(db.db_, busy_timeout_ms);
  return db;
}

Result<Stmt> Db::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &stmt, nullptr) != SQLITE_OK) {
    return SqlError(db_, "prepare " + std::string(sql.substr(0, 60)));
  }
  return Stmt(db_, stmt);
}

Status Db::Exec(const std::string& sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string detail = "storage: exec: ";
    detail += msg != nullptr ? msg : "unknown error";
    sqlite3_free(msg);
    return MakeError(Errc::kInternal, std::move(detail));
  }
  return Ok{};
}

Result<std::int64_t> Db::QueryInt(const std::string& sql) {
  auto stmt = Prepare(sql);
  if (!stmt) return std::move(stmt).error();
  const int rc = stmt->Step();
  if (rc == SQLITE_ROW) return stmt->Int(0);
  if (rc == SQLITE_DONE) return std::int64_t{0};
  return SqlError(db_, sql);
}

}  // namespace bookd::storage
