#include "common/problem.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cassert>
#include <string_view>

namespace bookd {
namespace {

struct ProblemInfo {
  int status;
  const char* code;
  const char* title;
};

// One row per Errc, in enum order; the static_assert below catches an Errc
// added without a row.
constexpr ProblemInfo kProblems[] = {
    {400, "bad_request", "Bad request"},
    {401, "unauthorized", "Unauthorized"},
    {403, "forbidden", "Forbidden"},
    {404, "not_found", "Not found"},
    {405, "method_not_allowed", "Method not allowed"},
    {409, "unavailable", "Capacity unavailable"},
    {409, "hold_expired", "Hold expired"},
    {409, "invalid_transition", "Invalid status transition"},
    {409, "conflict", "Conflict"},
    {412, "precondition_failed", "Precondition failed"},
    {413, "payload_too_large", "Payload too large"},
    {415, "unsupported_media_type", "Unsupported media type"},
    {422, "validation", "Validation failed"},
    {422, "idempotency_key_reused", "Idempotency key reused"},
    {428, "precondition_required", "Precondition required"},
    {429, "too_many_requests", "Too many requests"},
    {503, "overloaded", "Overloaded"},
    {500, "internal", "Internal error"},
};
static_assert(sizeof(kProblems) / sizeof(kProblems[0]) ==
                  static_cast<std::size_t>(Errc::kInternal) + 1,
              "every Errc needs a row in kProblems");

const ProblemInfo& Info(Errc code) {
  const auto i = static_cast<std::size_t>(code);
  assert(i < sizeof(kProblems) / sizeof(kProblems[0]));
  return kProblems[i];
}

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void String(Writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void WriteHead(Writer& w, int status, std::string_view code, std::string_view title,
               std::string_view detail) {
  std::string type = "/problems/";
  type.append(code);
  w.Key("type");
  String(w, type);
  w.Key("title");
  String(w, title);
  w.Key("status");
  w.Int(status);
  w.Key("detail");
  String(w, detail.empty() ? title : detail);
}

void WriteErrors(Writer& w, const std::vector<FieldError>& errors) {
  w.Key("errors");
  w.StartArray();
  for (const FieldError& f : errors) {
    w.StartObject();
    if (!f.pointer.empty() || f.parameter.empty()) {
      w.Key("pointer");
      String(w, f.pointer);
    } else {
      w.Key("parameter");
      String(w, f.parameter);
    }
    w.Key("detail");
    String(w, f.detail);
    w.EndObject();
  }
  w.EndArray();
}

void WriteConflicts(Writer& w, const std::vector<ItemConflict>& conflicts) {
  w.Key("conflicts");
  w.StartArray();
  for (const ItemConflict& c : conflicts) {
    w.StartObject();
    w.Key("item");
    w.Int(c.item);
    w.Key("resource_id");
    String(w, c.resource_id);
    w.Key("reason");
    String(w, c.reason);
    w.Key("available");
    w.Int64(c.available);
    w.EndObject();
  }
  w.EndArray();
}

}  // namespace

int HttpStatus(Errc code) { return Info(code).status; }

const char* ProblemCode(Errc code) { return Info(code).code; }

std::string ProblemJson(const Error& e) {
  const ProblemInfo& info = Info(e.code);
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  WriteHead(w, info.status, info.code, info.title, e.detail);
  if (!e.errors.empty()) WriteErrors(w, e.errors);
  if (!e.conflicts.empty()) WriteConflicts(w, e.conflicts);
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string TransportProblemJson(int status, std::string_view code, std::string_view title,
                                 std::string_view detail) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  WriteHead(w, status, code, title, detail);
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace bookd
