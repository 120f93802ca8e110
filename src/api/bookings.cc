#include <charconv>
#include <string>

#include "api/api_internal.h"
#include "api/http_util.h"
#include "api/json_in.h"
#include "api/json_out.h"

namespace bookd::api {
namespace {

namespace bhttp = boost::beast::http;

constexpr std::int64_t kPageLimitMax = 1000;
constexpr std::int64_t kPageLimitDefault = 100;

std::optional<std::int64_t> ParseSeq(std::string_view text) {
  std::int64_t seq = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seq);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || seq < 0) {
    return std::nullopt;
  }
  return seq;
}

// The booking query of GET /v1/bookings; all parameter errors at once.
Result<storage::BookingQuery> ReadBookingQuery(const std::map<std::string, std::string>& q) {
  storage::BookingQuery out;
  Error e = MakeError(Errc::kValidation, "a query parameter is not valid");
  auto fail = [&e](const Error& one) {
    e.errors.insert(e.errors.end(), one.errors.begin(), one.errors.end());
  };

  if (Status known =
          OnlyParams(q, {"resource_id", "customer", "status", "from", "to", "limit", "cursor"});
      !known.ok()) {
    fail(known.error());
  }
  if (auto it = q.find("resource_id"); it != q.end()) {
    if (IsValidId(it->second)) {
      out.resource_id = it->second;
    } else {
      fail(Error::Parameter("resource_id", "must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"));
    }
  }
  if (auto it = q.find("customer"); it != q.end()) {
    if (CodePoints(it->second) <= kCustomerCodePointsMax) {
      out.customer = it->second;
    } else {
      fail(Error::Parameter("customer", "must have at most 200 characters"));
    }
  }
  if (auto it = q.find("status"); it != q.end()) {
    out.status = domain::ParseStatus(it->second);
    if (!out.status) {
      fail(Error::Parameter("status", "must be one of held, confirmed, cancelled, expired"));
    }
  }
  for (const char* name : {"from", "to"}) {
    if (q.count(name) == 0) continue;
    Result<domain::Instant> t = InstantParam(q, name);
    if (!t.ok()) {
      fail(t.error());
    } else {
      (std::string_view(name) == "from" ? out.from : out.to) = *t;
    }
  }
  if (out.from && out.to && *out.from >= *out.to)
    fail(Error::Parameter("to", "must be after from"));
  Result<std::int64_t> limit = IntParam(q, "limit", kPageLimitDefault, 1, kPageLimitMax);
  if (limit.ok()) {
    out.limit = *limit;
  } else {
    fail(limit.error());
  }
  if (auto it = q.find("cursor"); it != q.end()) {
    std::optional<std::string> payload = DecodeCursor('b', it->second);
    std::optional<std::int64_t> seq = payload ? ParseSeq(*payload) : std::nullopt;
    if (seq) {
      out.after_seq = *seq;
    } else {
      fail(Error::Parameter("cursor", "is not a cursor of this listing"));
    }
  }

  if (!e.errors.empty()) return e;
  return out;
}

}  // namespace

void Api::Impl::CreateBooking(Context& ctx) {
  RequestDocument doc;
  Status parsed = ReadJsonBody(ctx.req, doc);
  if (!parsed.ok()) return ctx.call->Send(ProblemResponse(parsed.error()));
  Result<storage::CreateBooking> op = ReadCreateBooking(doc);
  if (!op.ok()) return ctx.call->Send(ProblemResponse(op.error()));
  SubmitWrite(ctx, std::move(*op), Made::kBookingCreated);
}

void Api::Impl::ListBookings(Context& ctx) {
  Result<storage::BookingQuery> q = ReadBookingQuery(ctx.query);
  if (!q.ok()) return ctx.call->Send(ProblemResponse(q.error()));

  domain::Instant now = clock.Now();
  Result<storage::Page<domain::Booking>> page = store.ListBookings(ctx.key.tenant, *q, now);
  if (!page.ok()) return ctx.call->Send(ProblemResponse(page.error()));
  std::optional<std::string> next;
  if (page->more && !page->data.empty()) {
    next = EncodeCursor('b', std::to_string(page->data.back().seq));
  }
  ctx.call->Send(JsonResponse(200, BookingListJson(page->data, now, next ? &*next : nullptr)));
}

void Api::Impl::GetBooking(Context& ctx) {
  Status known = OnlyParams(ctx.query, {});
  if (!known.ok()) return ctx.call->Send(ProblemResponse(known.error()));
  Result<domain::Booking> b = store.GetBooking(ctx.key.tenant, ctx.id);
  if (!b.ok()) return ctx.call->Send(ProblemResponse(b.error()));

  if (IfNoneMatchHits(ctx.req, b->version)) {
    http::Response res;
    res.result(bhttp::status::not_modified);
    res.set(bhttp::field::etag, ETagOf(b->version));
    return ctx.call->Send(std::move(res));
  }
  http::Response res = JsonResponse(200, BookingJson(*b, clock.Now()));
  res.set(bhttp::field::etag, ETagOf(b->version));
  ctx.call->Send(std::move(res));
}

void Api::Impl::PatchBooking(Context& ctx) {
  if (ctx.req.find(bhttp::field::if_match) == ctx.req.end()) {
    return ctx.call->Send(ProblemResponse(MakeError(
        Errc::kPreconditionRequired, "PATCH needs If-Match with the booking's current ETag")));
  }
  RequestDocument doc;
  Status parsed = ReadJsonBody(ctx.req, doc);
  if (!parsed.ok()) return ctx.call->Send(ProblemResponse(parsed.error()));
  Result<storage::BookingPatch> patch = ReadBookingPatch(doc);
  if (!patch.ok()) return ctx.call->Send(ProblemResponse(patch.error()));

  auto current = [&]() -> Result<std::int64_t> {
    Result<domain::Booking> b = store.GetBooking(ctx.key.tenant, ctx.id);
    if (!b.ok()) return b.error();
    return b->version;
  };
  Result<std::optional<std::int64_t>> version = ResolveIfMatch(ctx.req, current);
  if (!version.ok()) return ctx.call->Send(ProblemResponse(version.error()));

  storage::PatchBooking op{ctx.id, version->value(), std::move(*patch)};
  SubmitWrite(ctx, std::move(op), Made::kBooking);
}

// Confirm and cancel take no body; one that is sent is not read (it still
// counts in the Idempotency-Key fingerprint).
void Api::Impl::TransitionBooking(Context& ctx, storage::Transition t) {
  Status known = OnlyParams(ctx.query, {});
  if (!known.ok()) return ctx.call->Send(ProblemResponse(known.error()));
  auto current = [&]() -> Result<std::int64_t> {
    Result<domain::Booking> b = store.GetBooking(ctx.key.tenant, ctx.id);
    if (!b.ok()) return b.error();
    return b->version;
  };
  Result<std::optional<std::int64_t>> version = ResolveIfMatch(ctx.req, current);
  if (!version.ok()) return ctx.call->Send(ProblemResponse(version.error()));
  SubmitWrite(ctx, storage::TransitionBooking{ctx.id, t, *version}, Made::kBooking);
}

}  // namespace bookd::api
