// A PostgreSQL connection (libpq) that runs lists of statements as one
// pipeline: every statement of a list is sent before the first answer is
// read, so a list costs one network round trip however long it is. Named
// statements are prepared on first use on each connection and then reused.
// Every wait is bounded by a deadline: when the server does not answer in
// time the connection is closed and the caller gets kOverloaded, never a hang.
// A connection is used by one thread at a time; nothing here locks.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "common/result.h"

namespace bookd::storage {

// One result set. Cells are text (libpq's text format).
class PgResult {
 public:
  PgResult() = default;
  explicit PgResult(PGresult* r) : r_(r, &PQclear) {}

  int rows() const { return r_ ? PQntuples(r_.get()) : 0; }
  bool IsNull(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  std::string_view View(int row, int col) const {
    return {PQgetvalue(r_.get(), row, col),
            static_cast<std::size_t>(PQgetlength(r_.get(), row, col))};
  }
  std::string Text(int row, int col) const { return std::string(View(row, col)); }
  std::optional<std::string> OptText(int row, int col) const {
    if (IsNull(row, col)) return std::nullopt;
    return Text(row, col);
  }
  std::int64_t Int(int row, int col) const;
  std::optional<std::int64_t> OptInt(int row, int col) const {
    if (IsNull(row, col)) return std::nullopt;
    return Int(row, col);
  }
  bool Bool(int row, int col) const { return View(row, col) == "t"; }
  // Rows changed by an INSERT/UPDATE/DELETE without RETURNING.
  std::int64_t Affected() const;

 private:
  std::shared_ptr<PGresult> r_;
};

// A statement with a stable name, prepared once per connection.
struct PgSql {
  const char* name;  // empty: sent unprepared (migrations, one-off statements)
  std::string text;
};

// Parameters in text format; nullopt is SQL NULL.
using PgParams = std::vector<std::optional<std::string>>;

struct PgQuery {
  const PgSql* sql;
  PgParams params;
};

// PostgreSQL array literals ('{...}') for `= ANY($1)` and unnest().
std::string PgTextArray(const std::vector<std::string_view>& values);
std::string PgOptTextArray(const std::vector<std::optional<std::string_view>>& values);
std::string PgIntArray(const std::vector<std::int64_t>& values);
std::string PgOptIntArray(const std::vector<std::optional<std::int64_t>>& values);

struct PgConnOptions {
  std::string url;
  int connect_timeout_s = 3;
  int statement_timeout_ms = 5000;
};

// SQLSTATEs the callers act on.
inline constexpr std::string_view kSqlstateUniqueViolation = "23505";
inline constexpr std::string_view kSqlstateSerialization = "40001";
inline constexpr std::string_view kSqlstateDeadlock = "40P01";

class PgConn {
 public:
  // Connects (bounded by connect_timeout_s) and sets statement_timeout.
  // Failure is kOverloaded: the database is unreachable, retry later.
  static Result<std::unique_ptr<PgConn>> Connect(const PgConnOptions& options);
  ~PgConn();
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;

  // Runs `queries` in order as one pipeline and returns one result per
  // query. Outside an explicit transaction each query commits on its own.
  // The first failing query ends the list (the ones after it are skipped)
  // and is returned as an Error: kOverloaded when the connection is lost or
  // the deadline passed (the connection is then closed), else kInternal with
  // last_sqlstate() set.
  Result<std::vector<PgResult>> Run(const std::vector<PgQuery>& queries,
                                    std::optional<int> timeout_ms = std::nullopt);
  // One query.
  Result<PgResult> Query(const PgSql& sql, PgParams params,
                         std::optional<int> timeout_ms = std::nullopt);
  // Statements without parameters through the simple protocol (several
  // separated by semicolons are allowed); for migrations and ROLLBACK.
  Status Exec(const std::string& sql, std::optional<int> timeout_ms = std::nullopt);

  // False once the connection was lost or closed after a timeout; such a
  // connection is thrown away by its owner.
  bool usable() const;
  // True when the last Run left an open transaction (or an aborted one).
  bool in_transaction() const;
  const std::string& last_sqlstate() const { return last_sqlstate_; }

 private:
  PgConn(PGconn* conn, int statement_timeout_ms)
      : conn_(conn), statement_timeout_ms_(statement_timeout_ms) {}
  // Waits until `fd` is ready for `events` or the deadline passes.
  bool WaitSocket(short events, std::int64_t deadline_ms);
  bool Flush(std::int64_t deadline_ms);
  // The next result, or nullptr at the end of the current query's results;
  // sets `failed` when the connection broke or the deadline passed.
  PGresult* NextResult(std::int64_t deadline_ms, bool& failed);
  Error Broken(std::string_view what);

  PGconn* conn_;
  const int statement_timeout_ms_;
  std::unordered_set<std::string> prepared_;
  std::string last_sqlstate_;
};

}  // namespace bookd::storage
