// Availability, slots and search. Short ranges are computed on the
// connection's thread (a read and a sweep); long ones and every search go to
// the CPU pool so that connections never wait behind heavy work. A search is
// split into one chunk of resources per pool thread; the chunk that finishes
// last renders the answer.
#include "domain/availability.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "api/api_internal.h"
#include "api/http_util.h"
#include "api/json_in.h"
#include "api/json_out.h"

namespace bookd::api {
namespace {

constexpr std::int64_t kRangeSecondsMax = 366 * 86400;
constexpr std::size_t kSearchChunkMin = 16;  // resources; below this a chunk is not worth a task
// Resources a chunk reads from the store at once, in one snapshot: few read
// transactions, bounded memory and snapshot age.
constexpr std::size_t kSearchReadBatch = 256;
// Slots in one search answer, over all resources: 10,000 resources times
// 10,000 slots would be gigabytes of JSON. When the request could exceed it,
// each resource's limit shrinks to its share and "truncated" says so.
constexpr std::int64_t kSearchSlotsMax = 1000000;

// from/to of availability and slots: both required, from < to, at most 366 days.
Result<domain::Interval> RangeParams(const std::map<std::string, std::string>& q) {
  Error e = MakeError(Errc::kValidation, "a query parameter is not valid");
  Result<domain::Instant> from = InstantParam(q, "from");
  Result<domain::Instant> to = InstantParam(q, "to");
  if (!from.ok()) e.errors.push_back(from.error().errors.front());
  if (!to.ok()) e.errors.push_back(to.error().errors.front());
  if (from.ok() && to.ok()) {
    if (*from >= *to) {
      e.errors.push_back({"", "to", "must be after from"});
    } else if (*to - *from > kRangeSecondsMax) {
      e.errors.push_back({"", "to", "the range is at most 366 days"});
    }
  }
  if (!e.errors.empty()) return e;
  return domain::Interval{*from, *to};
}

// The state of one search, shared by its chunks.
struct SearchJob {
  CallPtr call;
  std::string tenant;
  SearchBody body;
  std::vector<std::string> ids;
  bool ids_from_client = false;
  std::vector<std::string> rendered;  // by index, SearchResultJson; chunks write disjoint ranges
  std::vector<char> missing;          // by index
  std::atomic<std::size_t> remaining{0};
  std::atomic<bool> overloaded{false};
  std::mutex mu;
  std::optional<Error> error;  // GUARDED_BY(mu)
};

void FinishSearch(SearchJob& job) {
  if (job.overloaded.load()) {
    return job.call->Send(
        ProblemResponse(Error::Overloaded("the computation pool is full; retry shortly")));
  }
  if (job.error) return job.call->Send(ProblemResponse(*job.error));

  // Only the concatenation is left to this (the last chunk's) thread: each
  // chunk rendered its own results, so the work that cannot be split stays
  // a small share of the search.
  Error unknown = MakeError(Errc::kValidation, "the request body is not valid");
  std::vector<std::string> found;
  found.reserve(job.rendered.size());
  for (std::size_t i = 0; i < job.ids.size(); ++i) {
    if (!job.missing[i]) {
      found.push_back(std::move(job.rendered[i]));
    } else if (job.ids_from_client && unknown.errors.size() < 100) {
      unknown.errors.push_back({"/resource_ids/" + std::to_string(i), "", "no such resource"});
    }
  }
  if (!unknown.errors.empty()) return job.call->Send(ProblemResponse(unknown));
  job.call->Send(JsonResponse(200, SearchJsonOf(found)));
}

void RunSearchChunk(storage::Store& store, const domain::Clock& clock, SearchJob& job,
                    std::size_t begin, std::size_t end) {
  domain::Instant now = clock.Now();
  domain::SlotQuery q{job.body.range, job.body.duration_s, job.body.step_s, job.body.quantity,
                      job.body.limit_per_resource};
  for (std::size_t from = begin; from < end; from += kSearchReadBatch) {
    const std::size_t to = std::min(end, from + kSearchReadBatch);
    auto loaded = store.ResourcesWithUsages(
        job.tenant, std::span<const std::string>(job.ids).subspan(from, to - from), job.body.range,
        now);
    if (!loaded.ok()) {
      std::lock_guard lock(job.mu);
      if (!job.error) job.error = loaded.error();
      return;
    }
    for (std::size_t i = from; i < to; ++i) {
      storage::ResourceUsages& ru = (*loaded)[i - from];
      if (!ru.resource) {
        job.missing[i] = 1;
        continue;
      }
      job.rendered[i] = SearchResultJson(
          SearchResult{ru.resource->id, domain::Slots(*ru.resource, ru.usages, q, now)});
    }
  }
}

bool ListSearchResources(storage::Store& store, SearchJob& job) {
  // All of the tenant's resources, by id, up to the contract's 10,000.
  std::string after;
  for (std::size_t pages = 0; pages <= kSearchResourcesMax / 1000; ++pages) {
    auto page = store.ListResources(job.tenant, after, 1000);
    if (!page.ok()) {
      job.call->Send(ProblemResponse(page.error()));
      return false;
    }
    for (const domain::Resource& r : page->data) job.ids.push_back(r.id);
    if (!page->more || page->data.empty()) break;
    after = page->data.back().id;
    if (job.ids.size() > kSearchResourcesMax) break;
  }
  if (job.ids.size() > kSearchResourcesMax) {
    job.call->Send(ProblemResponse(Error::Validation(
        "/resource_ids", "there are more than 10000 resources; name the ones to search")));
    return false;
  }
  return true;
}

void SplitSearch(storage::Store& store, pool::CpuPool& pool, const domain::Clock& clock,
                 const std::shared_ptr<SearchJob>& job) {
  std::size_t n = job->ids.size();
  if (n == 0) return job->call->Send(JsonResponse(200, SearchJson({})));
  job->body.limit_per_resource = std::max<std::int64_t>(
      1, std::min<std::int64_t>(job->body.limit_per_resource,
                                kSearchSlotsMax / static_cast<std::int64_t>(n)));
  job->rendered.resize(n);
  job->missing.assign(n, 0);

  std::size_t chunks = std::clamp<std::size_t>((n + kSearchChunkMin - 1) / kSearchChunkMin, 1,
                                               std::max<std::size_t>(pool.threads(), 1));
  std::size_t per_chunk = (n + chunks - 1) / chunks;
  chunks = (n + per_chunk - 1) / per_chunk;
  job->remaining.store(chunks);
  for (std::size_t c = 0; c < chunks; ++c) {
    std::size_t begin = c * per_chunk;
    std::size_t end = std::min(n, begin + per_chunk);
    bool queued = pool.TrySubmit([&store, &clock, job, begin, end] {
      Guarded(job->call, [&] { RunSearchChunk(store, clock, *job, begin, end); });
      if (job->remaining.fetch_sub(1) == 1) Guarded(job->call, [&] { FinishSearch(*job); });
    });
    if (!queued) {
      // The chunks that were queued still run; the last one to finish answers.
      job->overloaded.store(true);
      std::size_t unqueued = chunks - c;
      if (job->remaining.fetch_sub(unqueued) == unqueued) FinishSearch(*job);
      return;
    }
  }
}

}  // namespace

void Api::Impl::Availability(Context& ctx) {
  Status known = OnlyParams(ctx.query, {"from", "to"});
  if (!known.ok()) return ctx.call->Send(ProblemResponse(known.error()));
  Result<domain::Interval> range = RangeParams(ctx.query);
  if (!range.ok()) return ctx.call->Send(ProblemResponse(range.error()));
  Result<domain::Resource> r = store.GetResource(ctx.key.tenant, ctx.id);
  if (!r.ok()) return ctx.call->Send(ProblemResponse(r.error()));

  bool offload = range->end - range->start > options.inline_range_s_max;
  RunMaybeOffloaded(
      ctx.call, offload,
      [this, call = ctx.call, tenant = ctx.key.tenant, resource = std::move(*r), span = *range] {
        domain::Instant now = clock.Now();
        auto usages = store.Usages(tenant, resource.id, span, now);
        if (!usages.ok()) return call->Send(ProblemResponse(usages.error()));
        auto free = domain::Availability(resource, *usages, span, now);
        call->Send(JsonResponse(200, AvailabilityJson(resource.id, span, free)));
      });
}

void Api::Impl::Slots(Context& ctx) {
  Status known = OnlyParams(ctx.query, {"from", "to", "duration", "step", "quantity", "limit"});
  if (!known.ok()) return ctx.call->Send(ProblemResponse(known.error()));

  Error e = MakeError(Errc::kValidation, "a query parameter is not valid");
  auto take = [&e](const Error& one) {
    e.errors.insert(e.errors.end(), one.errors.begin(), one.errors.end());
  };
  domain::SlotQuery q;
  if (auto range = RangeParams(ctx.query); range.ok()) {
    q.range = *range;
  } else {
    take(range.error());
  }
  if (ctx.query.count("duration") == 0) {
    take(Error::Parameter("duration", "is required"));
  } else if (auto d = IntParam(ctx.query, "duration", 0, 1, kRangeSecondsMax); d.ok()) {
    q.duration_s = *d;
  } else {
    take(d.error());
  }
  if (auto s = IntParam(ctx.query, "step", q.duration_s, 1, kRangeSecondsMax); s.ok()) {
    q.step_s = *s;
    if (q.step_s > 0 && (q.step_s > 86400 || 86400 % q.step_s != 0)) {
      take(Error::Parameter(ctx.query.count("step") ? "step" : "duration",
                            "the step (default: duration) must divide 86400"));
    }
  } else {
    take(s.error());
  }
  if (auto n = IntParam(ctx.query, "quantity", 1, 1, kCapacityMax); n.ok()) {
    q.quantity = *n;
  } else {
    take(n.error());
  }
  if (auto l = IntParam(ctx.query, "limit", 1000, 1, kSlotLimitMax); l.ok()) {
    q.limit = *l;
  } else {
    take(l.error());
  }
  if (!e.errors.empty()) return ctx.call->Send(ProblemResponse(e));

  Result<domain::Resource> r = store.GetResource(ctx.key.tenant, ctx.id);
  if (!r.ok()) return ctx.call->Send(ProblemResponse(r.error()));

  bool offload = q.range.end - q.range.start > options.inline_range_s_max;
  RunMaybeOffloaded(ctx.call, offload,
                    [this, call = ctx.call, tenant = ctx.key.tenant, resource = std::move(*r), q] {
                      domain::Instant now = clock.Now();
                      auto usages = store.Usages(tenant, resource.id, q.range, now);
                      if (!usages.ok()) return call->Send(ProblemResponse(usages.error()));
                      domain::SlotAnswer answer = domain::Slots(resource, *usages, q, now);
                      call->Send(JsonResponse(200, SlotsJson(resource.id, answer)));
                    });
}

void Api::Impl::Search(Context& ctx) {
  RequestDocument doc;
  Status parsed = ReadJsonBody(ctx.req, doc);
  if (!parsed.ok()) return ctx.call->Send(ProblemResponse(parsed.error()));
  Result<SearchBody> body = ReadSearchBody(doc);
  if (!body.ok()) return ctx.call->Send(ProblemResponse(body.error()));

  auto job = std::make_shared<SearchJob>();
  job->call = ctx.call;
  job->tenant = ctx.key.tenant;
  job->ids_from_client = body->resource_ids.has_value();
  if (body->resource_ids) job->ids = std::move(*body->resource_ids);
  job->body = std::move(*body);
  if (job->ids_from_client) return SplitSearch(store, pool, clock, job);

  // Listing up to 10,000 resources takes milliseconds: on the pool too, so
  // that the connection's thread goes back to its other connections at once.
  const bool queued = pool.TrySubmit([this, job] {
    Guarded(job->call, [&] {
      if (ListSearchResources(store, *job)) SplitSearch(store, pool, clock, job);
    });
  });
  if (!queued) {
    job->overloaded.store(true);
    FinishSearch(*job);
  }
}

}  // namespace bookd::api
