#include <charconv>
#include <cstdio>
#include <exception>

#include "api/api_internal.h"
#include "api/http_util.h"
#include "api/json_in.h"
#include "common/metrics.h"
#include "common/problem.h"
#include "domain/time.h"

namespace bookd::api {

namespace bhttp = boost::beast::http;

void Call::Send(http::Response res) {
  if (sent_.exchange(true)) return;
  res.version(http_version_);
  double latency_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  metrics::RecordRequest(method_, route_, static_cast<int>(res.result_int()), latency_s);
  respond_(std::move(res));
}

http::Response JsonResponse(int status, std::string body) {
  http::Response res;
  res.result(static_cast<unsigned>(status));
  res.set(bhttp::field::content_type, "application/json");
  res.body() = std::move(body);
  return res;
}

http::Response ProblemResponse(const Error& e) {
  http::Response res;
  res.result(static_cast<unsigned>(HttpStatus(e.code)));
  res.set(bhttp::field::content_type, "application/problem+json");
  if (e.code == Errc::kOverloaded || e.code == Errc::kTooManyRequests) {
    res.set(bhttp::field::retry_after, std::to_string(e.retry_after_s > 0 ? e.retry_after_s : 1));
  }
  if (e.code == Errc::kUnauthorized) {
    res.set(bhttp::field::www_authenticate, "Bearer realm=\"bookd\"");
  }
  res.body() = ProblemJson(e);
  return res;
}

http::Response StoredToResponse(const storage::StoredResponse& stored) {
  http::Response res;
  res.result(static_cast<unsigned>(stored.status));
  if (!stored.content_type.empty()) res.set(bhttp::field::content_type, stored.content_type);
  if (!stored.location.empty()) res.set(bhttp::field::location, stored.location);
  if (!stored.etag.empty()) res.set(bhttp::field::etag, stored.etag);
  res.body() = stored.body;
  return res;
}

void LogError(std::string_view event, const std::string& request_id, std::string_view what) {
  std::string text(what.substr(0, 500));
  for (char& c : text) {
    if (c == '"' || c == '\n' || c == '\r') c = '\'';
  }
  std::fprintf(stderr, "level=error module=api event=%.*s request_id=%s what=\"%s\"\n",
               static_cast<int>(event.size()), event.data(), request_id.c_str(), text.c_str());
}

void Guarded(const CallPtr& call, const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    LogError("unhandled_exception", call->request_id(), e.what());
    call->Send(ProblemResponse(MakeError(Errc::kInternal, "an internal error occurred")));
  } catch (...) {
    LogError("unhandled_exception", call->request_id(), "unknown exception");
    call->Send(ProblemResponse(MakeError(Errc::kInternal, "an internal error occurred")));
  }
}

Status ReadJsonBody(const http::Request& req, rapidjson::Document& doc) {
  auto ct = req.find(bhttp::field::content_type);
  if (req.body().empty() && ct == req.end()) {
    return MakeError(Errc::kBadRequest, "the request needs a JSON body");
  }
  if (ct == req.end() || !IsJsonMediaType(Sv(ct->value()))) {
    return MakeError(Errc::kUnsupportedMediaType,
                     "the body must be sent as Content-Type: application/json");
  }
  return ParseStrictJson(req.body(), doc);
}

Status OnlyParams(const std::map<std::string, std::string>& query,
                  std::initializer_list<std::string_view> known) {
  Error e = MakeError(Errc::kValidation, "a query parameter is not valid");
  for (const auto& [name, value] : query) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      e.errors.push_back({"", name, "is not a known parameter of this route"});
    }
  }
  if (e.errors.empty()) return Ok{};
  return e;
}

Result<std::int64_t> IntParam(const std::map<std::string, std::string>& query,
                              const std::string& name, std::int64_t fallback, std::int64_t min,
                              std::int64_t max) {
  auto it = query.find(name);
  if (it == query.end()) return fallback;
  const std::string& text = it->second;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v < min || v > max) {
    return Error::Parameter(
        name, "must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
  }
  return v;
}

Result<domain::Instant> InstantParam(const std::map<std::string, std::string>& query,
                                     const std::string& name) {
  auto it = query.find(name);
  if (it == query.end()) return Error::Parameter(name, "is required");
  Result<domain::Instant> t = domain::ParseInstant(it->second);
  if (!t.ok()) return Error::Parameter(name, t.error().detail);
  return t;
}

Result<std::optional<std::int64_t>> ResolveIfMatch(
    const http::Request& req, const std::function<Result<std::int64_t>()>& current) {
  auto h = req.find(bhttp::field::if_match);
  if (h == req.end()) return std::optional<std::int64_t>();
  Result<EntityTags> tags = ParseEntityTags(Sv(h->value()));
  if (!tags.ok()) return tags.error();
  // The common case needs no read: the store compares the one version.
  if (!tags->any && tags->strong.size() == 1 && tags->weak.empty()) {
    return std::optional<std::int64_t>(tags->strong[0]);
  }
  Result<std::int64_t> now = current();
  if (!now.ok()) return now.error();
  // If-Match compares strongly: weak tags never match.
  if (tags->any ||
      std::find(tags->strong.begin(), tags->strong.end(), *now) != tags->strong.end()) {
    return std::optional<std::int64_t>(*now);
  }
  return MakeError(Errc::kPreconditionFailed, "If-Match does not name the current ETag");
}

bool IfNoneMatchHits(const http::Request& req, std::int64_t version) {
  auto h = req.find(bhttp::field::if_none_match);
  if (h == req.end()) return false;
  Result<EntityTags> tags = ParseEntityTags(Sv(h->value()));
  if (!tags.ok()) return false;  // a malformed condition is ignored: the full answer is safe
  auto has = [version](const std::vector<std::int64_t>& v) {
    return std::find(v.begin(), v.end(), version) != v.end();
  };
  return tags->any || has(tags->strong) || has(tags->weak);
}

}  // namespace bookd::api
