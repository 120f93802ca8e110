// A read connection of the SQLite store, used by one thread at a time (the
// store keeps one per calling thread). Each read is one statement or one
// deferred read transaction, so it sees one consistent snapshot that holds
// every batch committed before it began. Key and tenant administration also runs here:
// it is rare and synchronous, and SQLite's write lock serializes it with the
// writer.
#pragma once

#include <array>
#include <memory>
#include <string>

#include "domain/time.h"
#include "storage/sqlite_db.h"
#include "storage/store.h"

namespace bookd::storage {

class ReadConn {
 public:
  static Result<std::unique_ptr<ReadConn>> Open(const std::string& path, int busy_timeout_ms,
                                                const domain::Clock& clock);
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

  ReadConn(Db db, const domain::Clock& clock);
  Status LoadItems(Booking& b);
  Result<Stmt*> ListStatement(int mask);

  Db db_;
  const domain::Clock& clock_;
  std::unique_ptr<Statements> st_;
  std::array<Stmt, kListVariants> list_bookings_;
};

}  // namespace bookd::storage
