// Routing and authentication. A request goes through, in order:
//   1. the route table: unknown path 404, known path with another method 405
//      (with Allow); HEAD is served as GET wherever GET is;
//   2. the query string: malformed escapes 400, repeated parameters 422;
//   3. for /v1 routes, the API key: a revoked key stops working at the next
//      request (401; the store sees to it, see Store::FindKey); then the key's rate
//      limit (429 with Retry-After); a booking key may not write resources
//      (403);
//   4. the path id: percent-decoded; an id that cannot exist is 404;
//   5. the route's handler.
// No exception leaves Handle: anything thrown becomes a 500 problem.
#include "api/api.h"

#include <array>
#include <cstdio>
#include <optional>
#include <vector>

#include "api/api_internal.h"
#include "api/http_util.h"
#include "api/openapi.h"
#include "common/crypto.h"
#include "common/metrics.h"

namespace bookd::api {
namespace {

namespace bhttp = boost::beast::http;
using bhttp::verb;

enum class Route {
  kResources,
  kResource,
  kAvailability,
  kSlots,
  kBookings,
  kBooking,
  kConfirm,
  kCancel,
  kSearch,
  kHealthz,
  kReadyz,
  kMetrics,
  kOpenApi,
};

struct RouteInfo {
  Route route;
  const char* pattern;  // the template; "{id}" is the only variable
  std::array<verb, 3> methods;
  bool public_route;
};

constexpr verb kNone = verb::unknown;

constexpr std::array<RouteInfo, 13> kRoutes = {{
    {Route::kResources, "/v1/resources", {verb::get, verb::post, kNone}, false},
    {Route::kResource, "/v1/resources/{id}", {verb::get, verb::patch, verb::delete_}, false},
    {Route::kAvailability, "/v1/resources/{id}/availability", {verb::get, kNone, kNone}, false},
    {Route::kSlots, "/v1/resources/{id}/slots", {verb::get, kNone, kNone}, false},
    {Route::kBookings, "/v1/bookings", {verb::get, verb::post, kNone}, false},
    {Route::kBooking, "/v1/bookings/{id}", {verb::get, verb::patch, kNone}, false},
    {Route::kConfirm, "/v1/bookings/{id}/confirm", {verb::post, kNone, kNone}, false},
    {Route::kCancel, "/v1/bookings/{id}/cancel", {verb::post, kNone, kNone}, false},
    {Route::kSearch, "/v1/availability/search", {verb::post, kNone, kNone}, false},
    {Route::kHealthz, "/healthz", {verb::get, kNone, kNone}, true},
    {Route::kReadyz, "/readyz", {verb::get, kNone, kNone}, true},
    {Route::kMetrics, "/metrics", {verb::get, kNone, kNone}, true},
    {Route::kOpenApi, "/openapi.json", {verb::get, kNone, kNone}, true},
}};

// Matches `path` segment by segment against a pattern; the raw (still
// percent-encoded) {id} segment goes to `id`.
bool Matches(std::string_view pattern, std::string_view path, std::string_view& id) {
  constexpr int kSegmentsMax = 8;
  for (int n = 0; n < kSegmentsMax; ++n) {
    if (pattern.empty() || path.empty()) return pattern.empty() && path.empty();
    if (pattern.front() != '/' || path.front() != '/') return false;
    pattern.remove_prefix(1);
    path.remove_prefix(1);
    std::string_view p = pattern.substr(0, pattern.find('/'));
    std::string_view s = path.substr(0, path.find('/'));
    if (p == "{id}") {
      if (s.empty()) return false;
      id = s;
    } else if (p != s) {
      return false;
    }
    pattern.remove_prefix(p.size());
    path.remove_prefix(s.size());
  }
  return false;
}

// Every route that answers GET answers HEAD too (RFC 9110, section 9.3.2):
// HEAD is routed as GET, and the HTTP layer sends the headers without the body.
std::string AllowHeader(const RouteInfo& info) {
  std::string allow;
  for (verb m : info.methods) {
    if (m == kNone) continue;
    if (!allow.empty()) allow += ", ";
    allow += std::string(bhttp::to_string(m));
    if (m == verb::get) allow += ", HEAD";
  }
  return allow;
}

bool Allows(const RouteInfo& info, verb m) {
  return std::find(info.methods.begin(), info.methods.end(), m) != info.methods.end() && m != kNone;
}

// The key behind `Authorization: Bearer <key>`.
Result<storage::ApiKey> Authenticate(storage::Store& store, const http::Request& req) {
  constexpr std::size_t kKeyBytesMax = 512;
  auto h = req.find(bhttp::field::authorization);
  if (h == req.end()) {
    return MakeError(Errc::kUnauthorized, "send the API key as Authorization: Bearer <key>");
  }
  std::string_view value = Sv(h->value());
  if (value.size() < 7 || !EqualsIgnoreCase(value.substr(0, 7), "bearer ")) {
    return MakeError(Errc::kUnauthorized, "the Authorization scheme must be Bearer");
  }
  std::string_view secret = value.substr(7);
  while (!secret.empty() && secret.front() == ' ') secret.remove_prefix(1);
  while (!secret.empty() && secret.back() == ' ') secret.remove_suffix(1);
  if (secret.empty() || secret.size() > kKeyBytesMax) {
    return MakeError(Errc::kUnauthorized, "the API key is not valid");
  }
  Result<storage::ApiKey> key = store.FindKey(Sha256Hex(secret));
  if (!key.ok()) {
    if (key.error().code == Errc::kNotFound) {
      return MakeError(Errc::kUnauthorized, "the API key is not valid");
    }
    return key.error();
  }
  if (key->revoked) return MakeError(Errc::kUnauthorized, "the API key has been revoked");
  return key;
}

bool WritesResources(Route route, verb m) {
  return (route == Route::kResources && m == verb::post) ||
         (route == Route::kResource && (m == verb::patch || m == verb::delete_));
}

}  // namespace

Api::Api(storage::Store& store, pool::CpuPool& pool, const domain::Clock& clock, ApiOptions options)
    : impl_(std::make_unique<Impl>(store, pool, clock, options)) {
  impl_->slot->impl = impl_.get();
  metrics::AddCollector([slot = impl_->slot](std::string& out) {
    std::lock_guard lock(slot->mu);
    if (slot->impl != nullptr) slot->impl->CollectMetrics(out);
  });
}

Api::~Api() {
  std::lock_guard lock(impl_->slot->mu);
  impl_->slot->impl = nullptr;
}

void Api::Handle(http::Request&& req, const std::string& request_id, http::Respond respond) {
  auto call =
      std::make_shared<Call>(http::MethodLabel(req), req.version(), request_id, std::move(respond));
  Guarded(call, [&] { impl_->Dispatch(std::move(req), call); });
}

void Api::Impl::Dispatch(http::Request&& req, const CallPtr& call) {
  std::string_view path;
  std::string_view query;
  std::string target(req.target());
  SplitTarget(target, path, query);

  const RouteInfo* info = nullptr;
  std::string_view raw_id;
  for (const RouteInfo& r : kRoutes) {
    if (Matches(r.pattern, path, raw_id)) {
      info = &r;
      break;
    }
  }
  if (info == nullptr) {
    call->Send(ProblemResponse(MakeError(Errc::kNotFound, "no such route")));
    return;
  }
  call->set_route(info->pattern);
  if (req.method() == verb::head && Allows(*info, verb::get)) req.method(verb::get);
  if (!Allows(*info, req.method())) {
    http::Response res = ProblemResponse(
        MakeError(Errc::kMethodNotAllowed, "this route allows " + AllowHeader(*info) + " only"));
    res.set(bhttp::field::allow, AllowHeader(*info));
    call->Send(std::move(res));
    return;
  }

  Context ctx;
  ctx.call = call;
  Result<std::map<std::string, std::string>> params = ParseQuery(query);
  if (!params.ok()) {
    call->Send(ProblemResponse(params.error()));
    return;
  }
  ctx.query = std::move(*params);

  if (!info->public_route) {
    Result<storage::ApiKey> key = Authenticate(store, req);
    if (!key.ok()) {
      call->Send(ProblemResponse(key.error()));
      return;
    }
    ctx.key = std::move(*key);
    const RateLimiter::Decision rate = limiter.Take(ctx.key.id, RateLimiter::Clock::now());
    if (!rate.allowed) {
      metrics::AddRateLimited();
      Error e = MakeError(Errc::kTooManyRequests, "this API key is over its request rate limit");
      e.retry_after_s = rate.retry_after_s;
      call->Send(ProblemResponse(e));
      return;
    }
    if (ctx.key.role != storage::Role::kAdmin && WritesResources(info->route, req.method())) {
      call->Send(ProblemResponse(
          MakeError(Errc::kForbidden, "a booking key may not create, change or delete resources")));
      return;
    }
  }

  if (!raw_id.empty()) {
    std::optional<std::string> id = PercentDecode(raw_id, false);
    if (!id) {
      call->Send(
          ProblemResponse(MakeError(Errc::kBadRequest, "the path has a malformed percent-escape")));
      return;
    }
    if (!IsValidId(*id)) {
      call->Send(ProblemResponse(MakeError(Errc::kNotFound, "no such id")));
      return;
    }
    ctx.id = std::move(*id);
  }
  ctx.req = std::move(req);

  verb m = ctx.req.method();
  switch (info->route) {
    case Route::kResources:
      return m == verb::post ? CreateResource(ctx) : ListResources(ctx);
    case Route::kResource:
      if (m == verb::get) return GetResource(ctx);
      return m == verb::patch ? PatchResource(ctx) : DeleteResource(ctx);
    case Route::kAvailability:
      return Availability(ctx);
    case Route::kSlots:
      return Slots(ctx);
    case Route::kBookings:
      return m == verb::post ? CreateBooking(ctx) : ListBookings(ctx);
    case Route::kBooking:
      return m == verb::get ? GetBooking(ctx) : PatchBooking(ctx);
    case Route::kConfirm:
      return TransitionBooking(ctx, storage::Transition::kConfirm);
    case Route::kCancel:
      return TransitionBooking(ctx, storage::Transition::kCancel);
    case Route::kSearch:
      return Search(ctx);
    case Route::kHealthz:
      call->Send(JsonResponse(200, "{\"status\":\"ok\"}"));
      return;
    case Route::kReadyz:
      if (store.Ready()) {
        call->Send(JsonResponse(200, "{\"status\":\"ready\"}"));
      } else {
        call->Send(ProblemResponse(Error::Overloaded("the database does not answer")));
      }
      return;
    case Route::kMetrics: {
      http::Response res = JsonResponse(200, metrics::Render());
      res.set(bhttp::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      call->Send(std::move(res));
      return;
    }
    case Route::kOpenApi:
      call->Send(JsonResponse(200, std::string(OpenApiDocument())));
      return;
  }
}

void Api::Impl::CollectMetrics(std::string& out) {
  storage::StoreStats stats = store.Stats();
  const std::vector<std::uint64_t>& bounds = storage::BatchSizeBounds();
  out += "# HELP bookd_commit_batch_size Commands per group-commit transaction.\n";
  out += "# TYPE bookd_commit_batch_size histogram\n";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds.size() && i < stats.batch_size_buckets.size(); ++i) {
    cumulative += stats.batch_size_buckets[i];
    out += "bookd_commit_batch_size_bucket{le=\"" + std::to_string(bounds[i]) + "\"} " +
           std::to_string(cumulative) + "\n";
  }
  out += "bookd_commit_batch_size_bucket{le=\"+Inf\"} " + std::to_string(stats.batches) + "\n";
  out += "bookd_commit_batch_size_sum " + std::to_string(stats.batched_commands) + "\n";
  out += "bookd_commit_batch_size_count " + std::to_string(stats.batches) + "\n";
  out += "# HELP bookd_store_queue_depth Write commands waiting for the writer.\n";
  out += "# TYPE bookd_store_queue_depth gauge\n";
  out += "bookd_store_queue_depth " + std::to_string(stats.queue_depth) + "\n";
  out += "# HELP bookd_pool_queue_depth Tasks waiting or running on the CPU pool.\n";
  out += "# TYPE bookd_pool_queue_depth gauge\n";
  out += "bookd_pool_queue_depth " + std::to_string(pool.depth()) + "\n";
}

void Api::Impl::RunMaybeOffloaded(const CallPtr& call, bool offload, std::function<void()> task) {
  if (!offload) {
    task();
    return;
  }
  bool queued = pool.TrySubmit([call, task = std::move(task)] { Guarded(call, task); });
  if (!queued) {
    call->Send(ProblemResponse(Error::Overloaded("the computation pool is full; retry shortly")));
  }
}

}  // namespace bookd::api
