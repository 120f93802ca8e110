// The storage interface. Every backend (SQLite now, PostgreSQL later) runs
// the same conformance suite (storage/store_conformance_test.cc).
//
// Writes are commands executed by the backend's writer, which batches many
// commands into one durable transaction (group commit) while each command
// gets its own all-or-nothing outcome. A command's `done` callback runs only
// after the transaction that holds it is durable (or definitively failed),
// on a backend thread: it must be cheap and must not block.
//
// Reads are synchronous and see every write whose `done` has run.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/result.h"
#include "domain/lifecycle.h"
#include "domain/model.h"
#include "domain/resource_rules.h"

namespace bookd::storage {

using domain::Booking;
using domain::Instant;
using domain::Resource;

// ---- Tenants --------------------------------------------------------------

// A tenant partitions everything: resources, bookings and idempotency keys
// live inside one tenant, and an API key belongs to exactly one, so a key can
// never name another tenant's objects (they are simply not found).
struct Tenant {
  std::string id;  // the resource id pattern ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$
  std::string name;
  Instant created_at = 0;
};

// Every database has this tenant; a database made before tenants existed
// migrates into it.
inline constexpr const char* kDefaultTenant = "default";

// True when `id` matches the tenant (and resource) id pattern.
bool IsValidTenantId(std::string_view id);

// The tenant CreateTenant(id, name) stores at `now`, or the kValidation error
// it answers; shared by the backends so that they accept the same tenants.
Result<Tenant> NewTenant(const std::string& id, const std::string& name, Instant now);

// ---- API keys -------------------------------------------------------------

enum class Role { kAdmin, kBooking };

struct ApiKey {
  std::string id;  // public, short; shown by `keys list`
  std::string tenant;
  Role role = Role::kBooking;
  Instant created_at = 0;
  bool revoked = false;
};

// ---- Idempotency ----------------------------------------------------------

// The first answer to a request, kept so that a retry gets it again.
struct StoredResponse {
  int status = 0;
  std::string body;
  std::string content_type;
  std::string location;  // empty when none
  std::string etag;      // empty when none
};

struct Idempotency {
  std::string key_id;        // the API key that sent it
  std::string key;           // the Idempotency-Key header
  std::string request_hash;  // of method, path and body
};

// ---- Write commands -------------------------------------------------------

struct CreateResource {
  Resource resource;  // id empty: the backend generates one
};

using ResourcePatch = domain::ResourcePatch;  // the rules: domain/resource_rules.h

struct PatchResource {
  std::string id;
  std::int64_t if_match = 0;  // required by the contract
  ResourcePatch patch;
};

struct DeleteResource {
  std::string id;
  std::optional<std::int64_t> if_match;
};

struct CreateBooking {
  std::vector<domain::Item> items;
  std::optional<std::string> customer;
  std::string metadata_json = "{}";
  std::optional<std::int64_t> hold_seconds;
};

struct BookingPatch {
  std::optional<std::vector<domain::Item>> items;
  std::optional<std::optional<std::string>> customer;  // inner nullopt: clear
  std::optional<std::string> metadata_json;
};

struct PatchBooking {
  std::string id;
  std::int64_t if_match = 0;
  BookingPatch patch;
};

// Confirm or cancel; the rules are the domain's (domain/lifecycle.h).
using Transition = domain::Transition;

struct TransitionBooking {
  std::string id;
  Transition transition = Transition::kConfirm;
  std::optional<std::int64_t> if_match;
};

using Operation = std::variant<CreateResource, PatchResource, DeleteResource, CreateBooking,
                               PatchBooking, TransitionBooking>;

// What a command produced. `replay` is set when an Idempotency-Key matched an
// earlier request: the stored first answer, to be sent again as it was.
struct WriteOutcome {
  std::variant<Error, Resource, Booking, std::monostate /* deleted */> value;
  std::optional<StoredResponse> replay;
};

struct Command {
  std::string tenant;
  Operation op;
  std::optional<Idempotency> idempotency;
  // Renders the outcome as the HTTP answer to keep for replays; called by the
  // writer inside the transaction, only when `idempotency` is set.
  std::function<StoredResponse(const WriteOutcome&)> render;
  std::function<void(WriteOutcome)> done;
};

// ---- Reads ----------------------------------------------------------------

struct BookingQuery {
  std::optional<std::string> resource_id;
  std::optional<std::string> customer;
  std::optional<domain::BookingStatus> status;  // effective status
  std::optional<Instant> from;
  std::optional<Instant> to;
  std::int64_t limit = 100;
  std::int64_t after_seq = 0;  // cursor: bookings with seq > after_seq
};

template <class T>
struct Page {
  std::vector<T> data;
  bool more = false;  // there is a next page after the last element
};

struct StoreStats {
  std::uint64_t batches = 0;
  std::uint64_t batched_commands = 0;
  std::vector<std::uint64_t> batch_size_buckets;  // counts per bucket of BatchSizeBounds()
  std::uint64_t queue_depth = 0;
};

// A resource and its usages that count over some span, for work that fans
// out over many resources (search).
struct ResourceUsages {
  std::optional<Resource> resource;  // empty: no such resource in the tenant
  std::vector<domain::Usage> usages;
};

// ResourcesWithUsages by one GetResource and one Usages call per id on
// `reads` (a Store, or a backend's connection inside a snapshot it holds).
template <class Reads>
Result<std::vector<ResourceUsages>> ReadEachResourceWithUsages(Reads& reads,
                                                               const std::string& tenant,
                                                               std::span<const std::string> ids,
                                                               domain::Interval span, Instant now) {
  std::vector<ResourceUsages> out(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    auto r = reads.GetResource(tenant, ids[i]);
    if (!r.ok() && r.error().code == Errc::kNotFound) continue;
    if (!r.ok()) return std::move(r).error();
    auto usages = reads.Usages(tenant, ids[i], span, now);
    if (!usages.ok()) return std::move(usages).error();
    out[i].resource = std::move(*r);
    out[i].usages = std::move(*usages);
  }
  return out;
}

class Store {
 public:
  virtual ~Store() = default;

  // Queues a write. Never blocks; when the queue is full `done` is called at
  // once with kOverloaded.
  virtual void Submit(Command cmd) = 0;

  virtual Result<Resource> GetResource(const std::string& tenant, const std::string& id) = 0;
  virtual Result<Page<Resource>> ListResources(const std::string& tenant,
                                               const std::string& after_id, std::int64_t limit) = 0;
  // Usages of bookings counting at `now` on `resource_id` overlapping `span`.
  virtual Result<std::vector<domain::Usage>> Usages(const std::string& tenant,
                                                    const std::string& resource_id,
                                                    domain::Interval span, Instant now) = 0;
  // GetResource and Usages for each of `ids`, in order. The default calls
  // them one by one; a backend may read them all in one snapshot, which on
  // SQLite also spares a read transaction (and its shared-memory lock) per
  // call.
  virtual Result<std::vector<ResourceUsages>> ResourcesWithUsages(const std::string& tenant,
                                                                  std::span<const std::string> ids,
                                                                  domain::Interval span,
                                                                  Instant now);

  virtual Result<Booking> GetBooking(const std::string& tenant, const std::string& id) = 0;
  virtual Result<Page<Booking>> ListBookings(const std::string& tenant, const BookingQuery& q,
                                             Instant now) = 0;

  // Keys are looked up by the SHA-256 of the secret; the secret is never stored.
  // A key revoked through any store of the same database (in any process) is
  // not found by the next call.
  virtual Result<ApiKey> FindKey(const std::string& secret_hash) = 0;
  // kNotFound when `tenant` was never created; kConflict when the hash is taken.
  virtual Result<ApiKey> CreateKey(const std::string& tenant, Role role,
                                   const std::string& secret_hash) = 0;
  virtual Result<std::vector<ApiKey>> ListKeys() = 0;
  virtual Status RevokeKey(const std::string& id) = 0;

  // kValidation for an id outside the pattern or a name outside 1 to 200
  // bytes (an empty name becomes the id); kConflict when the id is taken.
  // The defaults answer kInternal, for a backend that has no tenants yet.
  virtual Result<Tenant> CreateTenant(const std::string& id, const std::string& name);
  // Every tenant, ordered by id.
  virtual Result<std::vector<Tenant>> ListTenants();

  // True when the database answers.
  virtual bool Ready() = 0;
  virtual StoreStats Stats() = 0;

  // Stops accepting commands, finishes the queued ones, closes.
  virtual void Close() = 0;
};

// Upper bounds of the batch-size histogram buckets (for /metrics).
const std::vector<std::uint64_t>& BatchSizeBounds();

}  // namespace bookd::storage
