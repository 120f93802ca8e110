#include "storage/pg_conn.h"

#include <poll.h>

#include <charconv>
#include <chrono>
#include <cstdlib>

namespace bookd::storage {
namespace {

// Time granted beyond statement_timeout before the client gives up on the
// server: the server normally cancels a slow statement itself first.
constexpr int kClientGraceMs = 1000;

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void AppendQuoted(std::string& out, std::string_view v) {
  out += '"';
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

std::string FirstLine(const char* message) {
  std::string m = message != nullptr ? message : "";
  if (auto nl = m.find('\n'); nl != std::string::npos) m.resize(nl);
  return m;
}

}  // namespace

std::int64_t PgResult::Int(int row, int col) const {
  const std::string_view v = View(row, col);
  std::int64_t out = 0;
  std::from_chars(v.data(), v.data() + v.size(), out);
  return out;
}

std::int64_t PgResult::Affected() const {
  const char* n = PQcmdTuples(r_.get());
  return n != nullptr && *n != '\0' ? std::strtoll(n, nullptr, 10) : 0;
}

std::string PgTextArray(const std::vector<std::string_view>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    AppendQuoted(out, values[i]);
  }
  out += '}';
  return out;
}

std::string PgOptTextArray(const std::vector<std::optional<std::string_view>>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    if (values[i]) {
      AppendQuoted(out, *values[i]);
    } else {
      out += "NULL";
    }
  }
  out += '}';
  return out;
}

std::string PgIntArray(const std::vector<std::int64_t>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(values[i]);
  }
  out += '}';
  return out;
}

std::string PgOptIntArray(const std::vector<std::optional<std::int64_t>>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += values[i] ? std::to_string(*values[i]) : "NULL";
  }
  out += '}';
  return out;
}

Result<std::unique_ptr<PgConn>> PgConn::Connect(const PgConnOptions& options) {
  const std::string timeout = std::to_string(std::max(options.connect_timeout_s, 1));
  // Keywords after "dbname" override what the URL says about them, those
  // before it are defaults the URL may override.
  const char* keys[] = {"application_name", "dbname", "connect_timeout", nullptr};
  const char* values[] = {"bookd", options.url.c_str(), timeout.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, 1);
  if (conn == nullptr) return Error::Overloaded("storage: out of memory connecting to PostgreSQL");
  if (PQstatus(conn) != CONNECTION_OK) {
    Error e = Error::Overloaded("storage: cannot connect to PostgreSQL: " +
                                FirstLine(PQerrorMessage(conn)));
    PQfinish(conn);
    return e;
  }
  // Notices (e.g. "already exists, skipping") are not for our users' stderr.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  if (PQsetnonblocking(conn, 1) != 0) {
    PQfinish(conn);
    return Error::Overloaded("storage: cannot make the PostgreSQL connection non-blocking");
  }
  std::unique_ptr<PgConn> c(new PgConn(conn, options.statement_timeout_ms));
  if (auto s = c->Exec("SET statement_timeout = " + std::to_string(options.statement_timeout_ms) +
                       "; SET lock_timeout = " + std::to_string(options.statement_timeout_ms));
      !s) {
    return std::move(s).error();
  }
  return c;
}

PgConn::~PgConn() {
  if (conn_ != nullptr) PQfinish(conn_);
}

bool PgConn::usable() const { return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK; }

bool PgConn::in_transaction() const {
  if (conn_ == nullptr) return false;
  const PGTransactionStatusType s = PQtransactionStatus(conn_);
  return s == PQTRANS_INTRANS || s == PQTRANS_INERROR;
}

Error PgConn::Broken(std::string_view what) {
  std::string detail = "storage: PostgreSQL " + std::string(what);
  if (conn_ != nullptr) {
    const std::string message = FirstLine(PQerrorMessage(conn_));
    if (!message.empty()) detail += ": " + message;
    PQfinish(conn_);
    conn_ = nullptr;
  }
  return Error::Overloaded(std::move(detail));
}

bool PgConn::WaitSocket(short events, std::int64_t deadline_ms) {
  // Each poll is bounded by the deadline; EINTR only shortens one round.
  for (int round = 0; round < 100000; ++round) {
    const std::int64_t left = deadline_ms - NowMs();
    if (left <= 0) return false;
    pollfd p{PQsocket(conn_), events, 0};
    if (p.fd < 0) return false;
    const int n = poll(&p, 1, static_cast<int>(left));
    if (n > 0) return true;
    if (n == 0) return false;
  }
  return false;
}

bool PgConn::Flush(std::int64_t deadline_ms) {
  for (int round = 0; round < 100000; ++round) {
    const int rc = PQflush(conn_);
    if (rc == 0) return true;
    if (rc < 0) return false;
    if (!WaitSocket(POLLOUT | POLLIN, deadline_ms)) return false;
    if (PQconsumeInput(conn_) == 0) return false;
  }
  return false;
}

PGresult* PgConn::NextResult(std::int64_t deadline_ms, bool& failed) {
  for (int round = 0; PQisBusy(conn_) != 0; ++round) {
    if (round > 1000000 || !WaitSocket(POLLIN, deadline_ms) || PQconsumeInput(conn_) == 0) {
      failed = true;
      return nullptr;
    }
  }
  return PQgetResult(conn_);
}

Result<std::vector<PgResult>> PgConn::Run(const std::vector<PgQuery>& queries,
                                          std::optional<int> timeout_ms) {
  last_sqlstate_.clear();
  if (!usable()) return Broken("connection is closed");
  const std::int64_t deadline =
      NowMs() + timeout_ms.value_or(statement_timeout_ms_ + kClientGraceMs) +
      static_cast<std::int64_t>(queries.size() > 1 ? statement_timeout_ms_ : 0);
  if (PQenterPipelineMode(conn_) != 1) return Broken("refused pipeline mode");

  // What was sent, in order: a Prepare (query index, true) or an Execute.
  struct Sent {
    std::size_t query;
    bool prepare;
  };
  std::vector<Sent> sent;
  sent.reserve(queries.size() * 2);
  std::vector<const char*> values;
  for (std::size_t i = 0; i < queries.size(); ++i) {
    const PgQuery& q = queries[i];
    const int n = static_cast<int>(q.params.size());
    values.clear();
    for (const auto& p : q.params) values.push_back(p ? p->c_str() : nullptr);
    const bool named = q.sql->name[0] != '\0';
    if (named && !prepared_.contains(q.sql->name)) {
      if (PQsendPrepare(conn_, q.sql->name, q.sql->text.c_str(), n, nullptr) != 1) {
        return Broken("send failed");
      }
      sent.push_back({i, true});
    }
    const int ok =
        named ? PQsendQueryPrepared(conn_, q.sql->name, n, values.data(), nullptr, nullptr, 0)
              : PQsendQueryParams(conn_, q.sql->text.c_str(), n, nullptr, values.data(), nullptr,
                                  nullptr, 0);
    if (ok != 1) return Broken("send failed");
    sent.push_back({i, false});
  }
  if (PQpipelineSync(conn_) != 1 || !Flush(deadline)) return Broken("send failed");

  std::vector<PgResult> results;
  results.reserve(queries.size());
  std::optional<Error> first_error;
  bool failed = false;
  for (const Sent& s : sent) {
    PGresult* r = NextResult(deadline, failed);
    if (failed || r == nullptr) return Broken("stopped answering");
    PgResult held(r);
    const ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR || st == PGRES_BAD_RESPONSE) {
      if (!first_error) {
        const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        last_sqlstate_ = state != nullptr ? state : "";
        first_error = MakeError(
            Errc::kInternal,
            "storage: " + FirstLine(PQresultErrorMessage(r)) + " (" +
                (queries[s.query].sql->name[0] != '\0' ? queries[s.query].sql->name : "statement") +
                ")");
      }
    } else if (st != PGRES_PIPELINE_ABORTED) {
      if (s.prepare) {
        prepared_.insert(queries[s.query].sql->name);
      } else {
        results.push_back(std::move(held));
      }
    }
    // The end of this query's results.
    for (int extra = 0; extra < 16; ++extra) {
      PGresult* more = NextResult(deadline, failed);
      if (failed) return Broken("stopped answering");
      if (more == nullptr) break;
      PQclear(more);
    }
  }
  // The sync point.
  for (int round = 0; round < 16; ++round) {
    PGresult* r = NextResult(deadline, failed);
    if (failed) return Broken("stopped answering");
    if (r == nullptr) continue;
    const bool sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
    PQclear(r);
    if (sync) break;
  }
  if (PQexitPipelineMode(conn_) != 1) return Broken("did not leave pipeline mode");
  if (first_error) {
    // A failure reported by the server itself (timeout, lock wait) leaves
    // the connection usable; serialization failures are retried by callers.
    if (last_sqlstate_ == "57014" || last_sqlstate_ == "55P03") {
      return Error::Overloaded(first_error->detail);
    }
    return std::move(*first_error);
  }
  return results;
}

Result<PgResult> PgConn::Query(const PgSql& sql, PgParams params, std::optional<int> timeout_ms) {
  std::vector<PgQuery> one;
  one.push_back(PgQuery{&sql, std::move(params)});
  auto r = Run(one, timeout_ms);
  if (!r) return std::move(r).error();
  return std::move((*r)[0]);
}

Status PgConn::Exec(const std::string& sql, std::optional<int> timeout_ms) {
  last_sqlstate_.clear();
  if (!usable()) return Broken("connection is closed");
  const std::int64_t deadline =
      NowMs() + timeout_ms.value_or(statement_timeout_ms_ + kClientGraceMs);
  if (PQsendQuery(conn_, sql.c_str()) != 1 || !Flush(deadline)) return Broken("send failed");
  std::optional<Error> first_error;
  bool failed = false;
  for (int round = 0; round < 10000; ++round) {
    PGresult* r = NextResult(deadline, failed);
    if (failed) return Broken("stopped answering");
    if (r == nullptr) break;
    PgResult held(r);
    const ExecStatusType st = PQresultStatus(r);
    if ((st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE) && !first_error) {
      const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
      last_sqlstate_ = state != nullptr ? state : "";
      first_error = MakeError(Errc::kInternal, "storage: " + FirstLine(PQresultErrorMessage(r)));
    }
  }
  if (first_error) return std::move(*first_error);
  return Ok{};
}

}  // namespace bookd::storage
