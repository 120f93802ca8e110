// Thin RAII wrappers over the SQLite C API: a connection and a prepared
// statement. Statements are prepared once and reused (Reset between uses), so
// that the hot path parses no SQL. Every failure is a Status carrying the
// SQLite message; none of these functions throw.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace bookd::storage {

// An Error of kind kInternal naming the failing step and SQLite's message.
Error SqlError(sqlite3* db, std::string_view what);

class Stmt {
 public:
  Stmt() = default;
  Stmt(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Stmt(Stmt&& other) noexcept;
  Stmt& operator=(Stmt&& other) noexcept;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt();

  bool valid() const { return stmt_ != nullptr; }

  // Bind parameters by 1-based index. Text is copied (SQLITE_TRANSIENT) only
  // where the statement may outlive the argument; BindText takes a view that
  // must stay alive until Reset(), so a temporary string does not compile.
  void BindInt(int i, std::int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void BindText(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  }
  void BindText(int i, const char* v) { BindText(i, std::string_view(v)); }
  void BindText(int i, std::string&& v) = delete;
  void BindNull(int i) { sqlite3_bind_null(stmt_, i); }
  void BindOptText(int i, const std::optional<std::string>& v) {
    if (v) {
      BindText(i, *v);
    } else {
      BindNull(i);
    }
  }
  void BindOptInt(int i, const std::optional<std::int64_t>& v) {
    if (v) {
      BindInt(i, *v);
    } else {
      BindNull(i);
    }
  }

  // SQLITE_ROW or SQLITE_DONE on success; anything else is an error code.
  int Step() { return sqlite3_step(stmt_); }

  // Steps a statement that returns no rows, then resets it.
  Status Run(std::string_view what);

  // Clears bindings and rewinds; call before reuse.
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  std::int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string Text(int col) const;
  std::optional<std::string> OptText(int col) const;
  std::optional<std::int64_t> OptInt(int col) const;

  sqlite3* db() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

// Resets a statement when leaving scope, so that an early return never leaves
// it holding a read snapshot or a reference to a bound buffer.
class StmtUse {
 public:
  explicit StmtUse(Stmt& s) : s_(s) {}
  ~StmtUse() { s_.Reset(); }
  StmtUse(const StmtUse&) = delete;
  StmtUse& operator=(const StmtUse&) = delete;
  Stmt* operator->() { return &s_; }
  Stmt& operator*() { return s_; }

 private:
  Stmt& s_;
};

class Db {
 public:
  Db() = default;
  Db(Db&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Db& operator=(Db&& other) noexcept;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db();

  // Opens (creating when absent) in multi-thread mode: the connection is used
  // by one thread at a time, which the caller guarantees.
  static Result<Db> Open(const std::string& path, int busy_timeout_ms);

  Result<Stmt> Prepare(std::string_view sql);
  // Runs one or more statements that return no rows we need.
  Status Exec(const std::string& sql);
  // The first column of the first row of `sql` as an integer.
  Result<std::int64_t> QueryInt(const std::string& sql);

  sqlite3* get() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace bookd::storage
