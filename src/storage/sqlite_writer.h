// The SQLite writer: owns the write connection and the in-memory capacity
// state (cached resources and ledgers), and executes batches of commands in
// one transaction. Used by exactly one thread (sqlite_store.cc's writer
// thread); nothing here locks. The rules it keeps are in sqlite_store.cc's
// design comment.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "domain/ledger.h"
#include "domain/time.h"
#include "storage/sqlite_db.h"
#include "storage/sqlite_store.h"
#include "storage/store.h"

namespace bookd::storage {

class Writer {
 public:
  static Result<std::unique_ptr<Writer>> Open(const SqliteOptions& options,
                                              const domain::Clock& clock);
  ~Writer();

  // Executes `cmds` in one transaction. outcomes[i] is cmds[i]'s outcome;
  // none is final until this returns (COMMIT done, or every outcome replaced
  // by kOverloaded when the transaction could not be made durable). True
  // when the committed transaction changed rows, i.e. there is something
  // to make durable; false when every command was refused or the batch
  // failed as a whole.
  bool RunBatch(std::vector<Command>& cmds, std::vector<WriteOutcome>& outcomes);

  // The write connection, for hooks that must see its commits.
  sqlite3* connection() const { return db_.get(); }

 private:
  struct Statements;
  struct CachedLedger {
    domain::Ledger ledger;
    domain::Instant horizon = 0;  // holds every counting usage with end > horizon
  };

  Writer(Db db, const domain::Clock& clock);

  // Starts the batch's transaction and drops the caches if another
  // connection committed since our last transaction.
  bool BeginBatch();
  void RollbackBatch();
  // Runs one command inside the open transaction. Commands are read, never
  // consumed: a batch that is rolled back runs again from the same commands. A command answers an
  // Error other than kInternal only before its first write; kInternal means
  // it may have written part of its rows, and the batch must be rolled back.
  WriteOutcome Execute(const Command& cmd);
  template <class W>
  friend WriteOutcome Perform(W& w, const std::string& tenant, const Operation& op,
                              domain::Instant now);

  Result<Resource> CreateResourceOp(const std::string& tenant, const CreateResource& c,
                                    domain::Instant now);
  Result<Resource> PatchResourceOp(const std::string& tenant, const PatchResource& c,
                                   domain::Instant now);
  Status DeleteResourceOp(const std::string& tenant, const DeleteResource& c, domain::Instant now);
  Result<Booking> CreateBookingOp(const std::string& tenant, const CreateBooking& c,
                                  domain::Instant now);
  Result<Booking> PatchBookingOp(const std::string& tenant, const PatchBooking& c,
                                 domain::Instant now);
  Result<Booking> TransitionOp(const std::string& tenant, const TransitionBooking& c,
                               domain::Instant now);

  // Resolves and validates the resources of `items` and prepares one ledger
  // per item for domain::CheckItems, excluding the usages of `exclude_id`.
  struct ItemCheck {
    std::vector<const Resource*> resources;
    std::vector<const domain::Ledger*> ledgers;
    std::vector<std::unique_ptr<domain::Ledger>> scratch;  // ledgers reaching before a horizon
  };
  Status PrepareItems(const std::string& tenant, const std::vector<domain::Item>& items,
                      domain::Instant now, ItemCheck& check);

  // nullptr when the resource does not exist in the tenant.
  Result<const Resource*> FindResource(const std::string& tenant, const std::string& id);
  Result<CachedLedger*> LedgerFor(const std::string& tenant, const std::string& id,
                                  domain::Instant now);
  CachedLedger* CachedLedgerOrNull(const std::string& tenant, const std::string& id);
  Status LoadUsages(const std::string& tenant, const std::string& id, domain::Instant end_after,
                    domain::Ledger& into);

  Result<Booking> LoadBooking(const std::string& tenant, const std::string& id);
  Status InsertItems(const std::string& tenant, std::int64_t seq,
                     const std::vector<domain::Item>& items);
  Status UpdateBookingRow(const Booking& b);

  void DropCaches();
  void MaintainCaches(domain::Instant now);

  Db db_;
  const domain::Clock& clock_;
  std::unique_ptr<Statements> st_;
  std::int64_t data_version_ = -1;
  std::unordered_map<std::string, Resource> resources_;    // key: tenant '\0' id
  std::unordered_map<std::string, CachedLedger> ledgers_;  // key: tenant '\0' id
  domain::Instant last_prune_ = 0;
  domain::Instant last_idempotency_sweep_ = 0;
};

}  // namespace bookd::storage
