// Writes travel to the store as commands. The answer is rendered in one
// function, Render, used twice: by the store (inside the transaction, to keep
// the first answer for Idempotency-Key replays) and by `done` (to answer this
// request). So a replay is byte for byte what the first client got, except for
// the Idempotent-Replayed header.
#include <string>

#include "api/api_internal.h"
#include "api/http_util.h"
#include "api/json_out.h"
#include "common/crypto.h"
#include "common/metrics.h"
#include "common/problem.h"

namespace bookd::api {
namespace {

namespace bhttp = boost::beast::http;

storage::StoredResponse Render(const storage::WriteOutcome& outcome, Made made,
                               domain::Instant now) {
  storage::StoredResponse r;
  if (const Error* e = std::get_if<Error>(&outcome.value)) {
    r.status = HttpStatus(e->code);
    r.body = ProblemJson(*e);
    r.content_type = "application/problem+json";
  } else if (const auto* res = std::get_if<domain::Resource>(&outcome.value)) {
    bool created = made == Made::kResourceCreated;
    r.status = created ? 201 : 200;
    r.body = ResourceJson(*res);
    r.content_type = "application/json";
    if (created) r.location = "/v1/resources/" + res->id;
    r.etag = ETagOf(res->version);
  } else if (const auto* b = std::get_if<domain::Booking>(&outcome.value)) {
    bool created = made == Made::kBookingCreated;
    r.status = created ? 201 : 200;
    r.body = BookingJson(*b, now);
    r.content_type = "application/json";
    if (created) r.location = "/v1/bookings/" + b->id;
    r.etag = ETagOf(b->version);
  } else {
    r.status = 204;
  }
  return r;
}

void Answer(const CallPtr& call, const storage::WriteOutcome& outcome, Made made,
            const domain::Clock& clock) {
  Guarded(call, [&] {
    if (outcome.replay) {
      http::Response res = StoredToResponse(*outcome.replay);
      res.set("Idempotent-Replayed", "true");
      call->Send(std::move(res));
      return;
    }
    const Error* e = std::get_if<Error>(&outcome.value);
    if (made == Made::kBookingCreated) {
      if (e == nullptr) metrics::AddBookingsCreated(1);
      if (e != nullptr && e->code == Errc::kUnavailable) metrics::AddBookingsConflicted(1);
    }
    if (e != nullptr) {
      call->Send(ProblemResponse(*e));  // keeps Retry-After for kOverloaded
      return;
    }
    call->Send(StoredToResponse(Render(outcome, made, clock.Now())));
  });
}

}  // namespace

void Api::Impl::SubmitWrite(Context& ctx, storage::Operation op, Made made) {
  storage::Command cmd;
  cmd.tenant = ctx.key.tenant;
  cmd.op = std::move(op);

  if (ctx.req.method() == bhttp::verb::post) {
    auto h = ctx.req.find("Idempotency-Key");
    if (h != ctx.req.end()) {
      std::string_view key = Sv(h->value());
      if (!IsValidIdempotencyKey(key)) {
        ctx.call->Send(
            ProblemResponse(Error::Parameter("Idempotency-Key",
                                             "the header must be 1 to 255 printable ASCII "
                                             "characters")));
        return;
      }
      std::string fingerprint = std::string(ctx.req.method_string()) + " " +
                                std::string(ctx.req.target()) + "\n" + ctx.req.body();
      cmd.idempotency = storage::Idempotency{ctx.key.id, std::string(key), Sha256Hex(fingerprint)};
    }
  }

  const domain::Clock* clock_ptr = &clock;
  cmd.render = [clock_ptr, made](const storage::WriteOutcome& outcome) {
    return Render(outcome, made, clock_ptr->Now());
  };
  cmd.done = [call = ctx.call, clock_ptr, made,
              defer = &options.complete_writes](storage::WriteOutcome outcome) {
    if (*defer) {
      (*defer)([call, clock_ptr, made, outcome = std::move(outcome)] {
        Answer(call, outcome, made, *clock_ptr);
      });
    } else {
      Answer(call, outcome, made, *clock_ptr);
    }
  };
  store.Submit(std::move(cmd));
}

}  // namespace bookd::api
