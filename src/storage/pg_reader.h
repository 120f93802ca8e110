// Reads of the PostgreSQL store, each on a connection lent by the store's
// pool. Every read is one statement, so it sees one snapshot, taken when the
// statement starts: it holds every batch whose COMMIT returned before, hence
// every write whose `done` has run. Key administration runs here too: it is
// rare, synchronous, and each statement commits on its own.
#pragma once

#include <string>
#include <vector>

#include "domain/time.h"
#include "storage/pg_conn.h"
#include "storage/store.h"

namespace bookd::storage::pg_read {

Result<Resource> GetResource(PgConn& c, const std::string& tenant, const std::string& id);
Result<Page<Resource>> ListResources(PgConn& c, const std::string& tenant,
                                     const std::string& after_id, std::int64_t limit);
Result<std::vector<domain::Usage>> Usages(PgConn& c, const std::string& tenant,
                                          const std::string& resource_id, domain::Interval span,
                                          domain::Instant now);
Result<Booking> GetBooking(PgConn& c, const std::string& tenant, const std::string& id);
Result<Page<Booking>> ListBookings(PgConn& c, const std::string& tenant, const BookingQuery& q,
                                   domain::Instant now);

Result<ApiKey> FindKey(PgConn& c, const std::string& secret_hash);
Result<ApiKey> CreateKey(PgConn& c, const std::string& tenant, Role role,
                         const std::string& secret_hash, domain::Instant now);
Result<std::vector<ApiKey>> ListKeys(PgConn& c);
Status RevokeKey(PgConn& c, const std::string& id, domain::Instant now);

Result<Tenant> CreateTenant(PgConn& c, const std::string& id, const std::string& name,
                            domain::Instant now);
Result<std::vector<Tenant>> ListTenants(PgConn& c);

bool Ready(PgConn& c, int timeout_ms);

}  // namespace bookd::storage::pg_read
