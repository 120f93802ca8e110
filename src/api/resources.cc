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

}  // namespace

void Api::Impl::CreateResource(Context& ctx) {
  RequestDocument doc;
  Status parsed = ReadJsonBody(ctx.req, doc);
  if (!parsed.ok()) return ctx.call->Send(ProblemResponse(parsed.error()));
  Result<ResourceBody> body = ReadResourceBody(doc, /*create=*/true);
  if (!body.ok()) return ctx.call->Send(ProblemResponse(body.error()));

  storage::CreateResource op{ResourceFromBody(std::move(*body))};
  op.resource.tenant = ctx.key.tenant;
  SubmitWrite(ctx, std::move(op), Made::kResourceCreated);
}

void Api::Impl::ListResources(Context& ctx) {
  Status known = OnlyParams(ctx.query, {"limit", "cursor"});
  if (!known.ok()) return ctx.call->Send(ProblemResponse(known.error()));
  Result<std::int64_t> limit = IntParam(ctx.query, "limit", kPageLimitDefault, 1, kPageLimitMax);
  if (!limit.ok()) return ctx.call->Send(ProblemResponse(limit.error()));
  std::string after_id;
  if (auto c = ctx.query.find("cursor"); c != ctx.query.end()) {
    std::optional<std::string> id = DecodeCursor('r', c->second);
    if (!id || !IsValidId(*id)) {
      return ctx.call->Send(
          ProblemResponse(Error::Parameter("cursor", "is not a cursor of this listing")));
    }
    after_id = std::move(*id);
  }

  Result<storage::Page<domain::Resource>> page =
      store.ListResources(ctx.key.tenant, after_id, *limit);
  if (!page.ok()) return ctx.call->Send(ProblemResponse(page.error()));
  std::optional<std::string> next;
  if (page->more && !page->data.empty()) next = EncodeCursor('r', page->data.back().id);
  ctx.call->Send(JsonResponse(200, ResourceListJson(page->data, next ? &*next : nullptr)));
}

void Api::Impl::GetResource(Context& ctx) {
  Status known = OnlyParams(ctx.query, {});
  if (!known.ok()) return ctx.call->Send(ProblemResponse(known.error()));
  Result<domain::Resource> r = store.GetResource(ctx.key.tenant, ctx.id);
  if (!r.ok()) return ctx.call->Send(ProblemResponse(r.error()));

  if (IfNoneMatchHits(ctx.req, r->version)) {
    http::Response res;
    res.result(bhttp::status::not_modified);
    res.set(bhttp::field::etag, ETagOf(r->version));
    return ctx.call->Send(std::move(res));
  }
  http::Response res = JsonResponse(200, ResourceJson(*r));
  res.set(bhttp::field::etag, ETagOf(r->version));
  ctx.call->Send(std::move(res));
}

void Api::Impl::PatchResource(Context& ctx) {
  if (ctx.req.find(bhttp::field::if_match) == ctx.req.end()) {
    return ctx.call->Send(ProblemResponse(MakeError(
        Errc::kPreconditionRequired, "PATCH needs If-Match with the resource's current ETag")));
  }
  RequestDocument doc;
  Status parsed = ReadJsonBody(ctx.req, doc);
  if (!parsed.ok()) return ctx.call->Send(ProblemResponse(parsed.error()));
  Result<ResourceBody> body = ReadResourceBody(doc, /*create=*/false);
  if (!body.ok()) return ctx.call->Send(ProblemResponse(body.error()));

  auto current = [&]() -> Result<std::int64_t> {
    Result<domain::Resource> r = store.GetResource(ctx.key.tenant, ctx.id);
    if (!r.ok()) return r.error();
    return r->version;
  };
  Result<std::optional<std::int64_t>> version = ResolveIfMatch(ctx.req, current);
  if (!version.ok()) return ctx.call->Send(ProblemResponse(version.error()));

  storage::PatchResource op{ctx.id, version->value(), std::move(body->fields)};
  SubmitWrite(ctx, std::move(op), Made::kResource);
}

void Api::Impl::DeleteResource(Context& ctx) {
  auto current = [&]() -> Result<std::int64_t> {
    Result<domain::Resource> r = store.GetResource(ctx.key.tenant, ctx.id);
    if (!r.ok()) return r.error();
    return r->version;
  };
  Result<std::optional<std::int64_t>> version = ResolveIfMatch(ctx.req, current);
  if (!version.ok()) return ctx.call->Send(ProblemResponse(version.error()));
  SubmitWrite(ctx, storage::DeleteResource{ctx.id, *version}, Made::kDeleted);
}

}  // namespace bookd::api
