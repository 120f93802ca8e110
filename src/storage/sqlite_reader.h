// A read connection of the SQLite store, used by one thread at a time (the
// store keeps one per calling thread). Each read is one statement or one
// deferred read transaction, so it sees one consistent snapshot that holds
// every batch committed before it began. Key and tenant administration also runs here:
// it is rare and synchronous, and SQLite's write lock serializes it with the
// writer.
//
// Key lookups are answered from a small cache of the connection's own, kept
// exact by the database's KeyEpoch (key_epoch.h): every request needs its
// key, and a read transaction per request costs more than the rest of its
// authentication, because each one takes the WAL's shared-memory locks that
// every other thread of the process wants too.
#pragma once

#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>

#include "domain/time.h"
#include "storage/key_epoch.h"
#include "storage/sqlite_db.h"
#include "storage/store.h"

namespace bookd::storage {

class ReadConn {
 public:
  // `keys` null: every key lookup reads the database.
  static Result<std::unique_ptr<ReadConn>> Open(const std::string& path, int busy_timeout_ms,
                                                const domain::Clock& clock,
                                                std::shared_ptr<KeyEpoch> keys);
  ~ReadConn();

  Result<Resource> GetResource(const std::string& tenant, const std::string& id);
  Result<Page<Resource>> ListResources(const std::string& tenant, const std::string& after_id,
                                       std::int64_t limit);
  Result<std::vector<domain::Usage>> Usages(const std::string& tenant,
                                            const std::string& resource_id, domain::Interval span,
                                            domain::Instant now);
  Result<std::vector<ResourceUsages>> ResourcesWithUsages(const std::string& tenant,
                                                          std::span<const std::string> ids,
                                                          domain::Interval span,
                                                          domain::Instant now);
  Result<Booking> GetBooking(const std::string& tenant, const std::string& id);
  Result<Page<Booking>> ListBookings(const std::string& tenant, const BookingQuery& q,
                                     domain::Instant now);

  Result<ApiKey> FindKey(const std::string& secret_hash);
  Result<ApiKey> CreateKey(const std::string& tenant, Role role, const std::string& secret_hash);
  Result<std::vector<ApiKey>> ListKeys();
  Status RevokeKey(const std::string& id);

  Result<Tenant> CreateTenant(const std::string& id, const std::string& name);
  Result<std::vector<Tenant>> ListTenants();

  bool Ready();

 private:
  struct Statements;
  // One listing statement per combination of filters (see ListBookings).
  static constexpr int kListVariants = 16;

  struct CachedKey {
    std::uint64_t epoch;
    std::chrono::steady_clock::time_point read_at;
    ApiKey key;
  };

  ReadConn(Db db, const domain::Clock& clock, std::shared_ptr<KeyEpoch> keys);
  Result<ApiKey> ReadKey(const std::string& secret_hash);
  Status LoadItems(Booking& b);
  Result<Stmt*> ListStatement(int mask);

  Db db_;
  const domain::Clock& clock_;
  std::unique_ptr<Statements> st_;
  std::array<Stmt, kListVariants> list_bookings_;
  std::shared_ptr<KeyEpoch> key_epoch_;
  std::unordered_map<std::string, CachedKey> keys_;  // by secret hash; valid keys only
};

}  // namespace bookd::storage
