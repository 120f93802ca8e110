// Internals of the API shared by its source files (not for other layers).
//
// Threads: Handle() runs on a connection's thread. A request is answered
// exactly once, through its Call, from one of three places: an I/O thread
// (reads, errors, and writes: a command's `done` hands its answer to
// ApiOptions::complete_writes, or renders it on the store's writer thread
// when that is empty), or a CPU-pool thread (long availability ranges, slot
// search). Call::Send is safe from any thread and effective
// once, so a late second answer (after an exception, say) is dropped.
#pragma once

#include <rapidjson/document.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "api/api.h"
#include "api/rate_limiter.h"
#include "common/result.h"
#include "domain/time.h"
#include "http/handler.h"
#include "storage/store.h"

namespace bookd::api {

// Beast (Boost 1.74) has its own string_view.
inline std::string_view Sv(boost::beast::string_view s) { return {s.data(), s.size()}; }

class Call {
 public:
  Call(std::string method, unsigned http_version, std::string request_id, http::Respond respond)
      : method_(std::move(method)),
        http_version_(http_version),
        request_id_(std::move(request_id)),
        respond_(std::move(respond)),
        started_(std::chrono::steady_clock::now()) {}

  // The route template for metrics ("/v1/bookings/{id}"); set before Send.
  void set_route(std::string route) { route_ = std::move(route); }
  const std::string& route() const { return route_; }
  const std::string& request_id() const { return request_id_; }

  // Records the request's metrics and hands the response to the server.
  void Send(http::Response res);

 private:
  std::string method_;
  unsigned http_version_;
  std::string request_id_;
  http::Respond respond_;
  std::chrono::steady_clock::time_point started_;
  std::string route_ = "unmatched";
  std::atomic<bool> sent_{false};
};
using CallPtr = std::shared_ptr<Call>;

// Everything a route handler needs about its request.
struct Context {
  CallPtr call;
  http::Request req;
  std::string id;                            // the decoded {id}, when the route has one
  std::map<std::string, std::string> query;  // decoded
  storage::ApiKey key;                       // the caller (for /v1 routes)
};

http::Response JsonResponse(int status, std::string body);
http::Response ProblemResponse(const Error& e);
http::Response StoredToResponse(const storage::StoredResponse& stored);

// One line on stderr, key=value, for failures nobody else will report.
void LogError(std::string_view event, const std::string& request_id, std::string_view what);

// Runs `fn`, turning an escaping exception into a 500 on `call`.
void Guarded(const CallPtr& call, const std::function<void()>& fn);

// What a write produces, for the status code and the Location header.
enum class Made { kResourceCreated, kResource, kBookingCreated, kBooking, kDeleted };

struct Api::Impl {
  Impl(storage::Store& s, pool::CpuPool& p, const domain::Clock& c, ApiOptions o)
      : store(s),
        pool(p),
        clock(c),
        options(o),
        limiter(o.rate_limit_per_s, o.rate_burst > 0 ? o.rate_burst : o.rate_limit_per_s) {}

  storage::Store& store;
  pool::CpuPool& pool;
  const domain::Clock& clock;
  ApiOptions options;
  RateLimiter limiter;

  // The /metrics collector outlives the Api (collectors cannot be removed);
  // it reads through this slot, which ~Api empties.
  struct CollectorSlot {
    std::mutex mu;
    Impl* impl = nullptr;
  };
  std::shared_ptr<CollectorSlot> slot = std::make_shared<CollectorSlot>();

  void Dispatch(http::Request&& req, const CallPtr& call);
  void CollectMetrics(std::string& out);

  // Resources (resources.cc).
  void CreateResource(Context& ctx);
  void ListResources(Context& ctx);
  void GetResource(Context& ctx);
  void PatchResource(Context& ctx);
  void DeleteResource(Context& ctx);

  // Bookings (bookings.cc).
  void CreateBooking(Context& ctx);
  void ListBookings(Context& ctx);
  void GetBooking(Context& ctx);
  void PatchBooking(Context& ctx);
  void TransitionBooking(Context& ctx, storage::Transition t);

  // Availability, slots and search (availability.cc).
  void Availability(Context& ctx);
  void Slots(Context& ctx);
  void Search(Context& ctx);

  // Submits a write command and answers the request from its `done`
  // (write.cc). Handles Idempotency-Key on POST.
  void SubmitWrite(Context& ctx, storage::Operation op, Made made);

  // Runs `task` inline, or on the CPU pool when `offload`; a full pool is
  // 503 overloaded with Retry-After.
  void RunMaybeOffloaded(const CallPtr& call, bool offload, std::function<void()> task);
};

// ---- Request helpers (request.cc) ------------------------------------------

// Parses the body of a request that needs one: 415 unless JSON, 400 when
// empty or malformed (see json_in.h).
Status ReadJsonBody(const http::Request& req, rapidjson::Document& doc);

// 422 (parameter) for a query parameter not in `known`.
Status OnlyParams(const std::map<std::string, std::string>& query,
                  std::initializer_list<std::string_view> known);

// An integer query parameter: `fallback` when absent, 422 when not an integer
// within [min, max].
Result<std::int64_t> IntParam(const std::map<std::string, std::string>& query,
                              const std::string& name, std::int64_t fallback, std::int64_t min,
                              std::int64_t max);
// A required (or optional) instant query parameter.
Result<domain::Instant> InstantParam(const std::map<std::string, std::string>& query,
                                     const std::string& name);

// If-Match resolved to the one version the store should compare, reading the
// current one through `current` when the header needs it ("*", a list, weak
// tags). nullopt when the header is absent. 412 when no tag can match.
Result<std::optional<std::int64_t>> ResolveIfMatch(
    const http::Request& req, const std::function<Result<std::int64_t>()>& current);

// True when If-None-Match names `version` (weak comparison) or is "*".
bool IfNoneMatchHits(const http::Request& req, std::int64_t version);

}  // namespace bookd::api
