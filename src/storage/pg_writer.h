// The PostgreSQL writer: one connection, one transaction per batch of
// commands. Used by exactly one writer thread of pg_store.cc; nothing here
// locks in memory. The rules it keeps are in pg_store.cc's design comment.
#pragma once

#include <memory>
#include <vector>

#include "domain/time.h"
#include "storage/pg_conn.h"
#include "storage/pg_store.h"
#include "storage/store.h"

namespace bookd::storage {

class PgWriter {
 public:
  PgWriter(const PgOptions& options, const domain::Clock& clock);
  ~PgWriter();

  // Executes `cmds` in one transaction; outcomes[i] is cmds[i]'s outcome.
  // None is final until this returns: COMMIT succeeded, or every outcome is
  // an Error that promises nothing was written.
  void RunBatch(std::vector<Command>& cmds, std::vector<WriteOutcome>& outcomes);

 private:
  class Batch;
  // Whether a failed attempt may be repeated: after a deadlock or a
  // serialization failure, or on a new connection when the old one broke
  // before COMMIT was sent.
  enum class Retry { kNo, kAgain, kReconnect };
  // One attempt; on failure the transaction is rolled back (or the
  // connection dropped) and the returned Error says why.
  Status TryBatch(std::vector<Command>& cmds, std::vector<WriteOutcome>& outcomes, Retry& retry);

  const PgOptions options_;
  const domain::Clock& clock_;
  std::unique_ptr<PgConn> conn_;
  domain::Instant last_sweep_ = 0;
};

}  // namespace bookd::storage
