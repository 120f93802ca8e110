// Request bodies of every JSON route: the first byte picks the route, the rest
// is the body, read as the handlers do (api::ParseStrictJson, then the route's
// reader). Checks: a parsed document re-serializes to one that parses again;
// an accepted resource or booking renders (json_out) to JSON that reads back
// to the same values, so that what we store we can also return.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "api/http_util.h"
#include "api/json_in.h"
#include "api/json_out.h"
#include "fuzz_check.h"

namespace {

using namespace bookd;

// Equal JSON texts, except that a number may come back a few units in the
// last place away: RapidJSON's default parsing is not exactly rounded (the
// README lists this), everything else must survive exactly.
bool SameValue(const rapidjson::Value& a, const rapidjson::Value& b) {
  if (a.IsNumber() && b.IsNumber()) {
    const double x = a.GetDouble();
    const double y = b.GetDouble();
    return x == y || std::fabs(x - y) <= 1e-12 * std::max(std::fabs(x), std::fabs(y));
  }
  if (a.GetType() != b.GetType()) return false;
  if (a.IsObject()) {
    if (a.MemberCount() != b.MemberCount()) return false;
    for (auto m = a.MemberBegin(), n = b.MemberBegin(); m != a.MemberEnd(); ++m, ++n) {
      if (m->name != n->name || !SameValue(m->value, n->value)) return false;
    }
    return true;
  }
  if (a.IsArray()) {
    if (a.Size() != b.Size()) return false;
    for (rapidjson::SizeType i = 0; i < a.Size(); ++i) {
      if (!SameValue(a[i], b[i])) return false;
    }
    return true;
  }
  return a == b;
}

bool SameJson(const std::string& a, const std::string& b) {
  if (a == b) return true;
  rapidjson::Document da;
  rapidjson::Document db;
  if (!api::ParseStrictJson(a, da).ok() || !api::ParseStrictJson(b, db).ok()) return false;
  return SameValue(da, db);
}

std::string Serialize(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

// Structural equality that lets doubles differ in the last bits: RapidJSON's
// default number parsing is not correctly rounded, so printing a double and
// reading it back may move it by an ulp (5e44 does).
bool SameJson(const rapidjson::Value& a, const rapidjson::Value& b) {
  if (a.IsDouble() && b.IsNumber()) {
    const double x = a.GetDouble();
    const double y = b.GetDouble();
    return x == y || std::fabs(x - y) <= 1e-15 * std::max(std::fabs(x), std::fabs(y));
  }
  if (a.GetType() != b.GetType()) return false;
  if (a.IsArray()) {
    if (a.Size() != b.Size()) return false;
    for (rapidjson::SizeType i = 0; i < a.Size(); ++i) {
      if (!SameJson(a[i], b[i])) return false;  // depth is bounded by kJsonDepthMax
    }
    return true;
  }
  if (a.IsObject()) {
    if (a.MemberCount() != b.MemberCount()) return false;
    auto x = a.MemberBegin();
    auto y = b.MemberBegin();
    for (; x != a.MemberEnd(); ++x, ++y) {
      if (!(x->name == y->name) || !SameJson(x->value, y->value)) return false;
    }
    return true;
  }
  return a == b;
}

// Keeps only the members a create request may carry.
void KeepOnly(rapidjson::Document& doc, std::initializer_list<const char*> names) {
  std::vector<std::string> drop;
  const rapidjson::Value& members = doc;  // const iterators: RapidJSON's others trip C++20
  for (const auto& m : members.GetObject()) {
    bool keep = false;
    for (const char* n : names) keep = keep || m.name == n;
    if (!keep) drop.emplace_back(m.name.GetString(), m.name.GetStringLength());
  }
  for (const std::string& name : drop) doc.RemoveMember(name.c_str());
}

void CheckMetadata(const std::string& json) {
  rapidjson::Document doc;
  FUZZ_CHECK(api::ParseStrictJson(json, doc).ok() && doc.IsObject(), "metadata is an object");
  FUZZ_CHECK(json.size() <= api::kMetadataBytesMax, "metadata is bounded");
}

void CheckResource(storage::ResourcePatch patch, std::optional<std::string> id) {
  if (patch.name) {
    const std::size_t n = api::CodePoints(*patch.name);
    FUZZ_CHECK(n >= 1 && n <= api::kNameCodePointsMax, "name length");
  }
  if (patch.capacity) {
    FUZZ_CHECK(*patch.capacity >= 1 && *patch.capacity <= api::kCapacityMax, "capacity range");
  }
  if (patch.closures) {
    for (const auto& c : *patch.closures) FUZZ_CHECK(c.start < c.end, "closure order");
  }
  if (patch.metadata_json) CheckMetadata(*patch.metadata_json);
  if (!patch.name) return;  // a patch: nothing to render

  const domain::Resource r = api::ResourceFromBody({id, std::move(patch)});
  rapidjson::Document rendered;
  FUZZ_CHECK(api::ParseStrictJson(api::ResourceJson(r), rendered).ok(), "resource JSON parses");
  KeepOnly(rendered, {"id", "name", "capacity", "timezone", "hours", "closures", "metadata"});
  if (r.id.empty()) rendered.RemoveMember("id");
  auto back = api::ReadResourceBody(rendered, true);
  FUZZ_CHECK(back.ok(), "a rendered resource reads back");
  const domain::Resource again = api::ResourceFromBody(std::move(*back));
  FUZZ_CHECK(again.id == r.id && again.name == r.name && again.capacity == r.capacity &&
                 again.timezone == r.timezone && again.closures == r.closures,
             "resource fields survive rendering");
  const bool no_hours = !r.hours || r.hours == domain::WeeklyHours{};
  const bool no_hours_again = !again.hours || again.hours == domain::WeeklyHours{};
  FUZZ_CHECK(no_hours == no_hours_again && (no_hours || again.hours == r.hours),
             "opening hours survive rendering");
  FUZZ_CHECK(SameJson(again.metadata_json, r.metadata_json), "metadata survives rendering");
}

void CheckItems(const std::vector<domain::Item>& items) {
  FUZZ_CHECK(!items.empty() && items.size() <= api::kItemsMax, "item count");
  for (const auto& item : items) {
    FUZZ_CHECK(api::IsValidId(item.resource_id), "item resource id");
    FUZZ_CHECK(item.start < item.end && item.end - item.start <= api::kItemSecondsMax, "item span");
    FUZZ_CHECK(item.quantity >= 1 && item.quantity <= api::kCapacityMax, "item quantity");
  }
}

void CheckBooking(const storage::CreateBooking& op) {
  CheckItems(op.items);
  CheckMetadata(op.metadata_json);
  if (op.hold_seconds) {
    FUZZ_CHECK(*op.hold_seconds >= 1 && *op.hold_seconds <= api::kHoldSecondsMax, "hold range");
  }

  domain::Booking b;
  b.id = "b1";
  b.status = domain::BookingStatus::kConfirmed;
  b.items = op.items;
  b.customer = op.customer;
  b.metadata_json = op.metadata_json;
  rapidjson::Document rendered;
  FUZZ_CHECK(api::ParseStrictJson(api::BookingJson(b, 0), rendered).ok(), "booking JSON parses");
  KeepOnly(rendered, {"items", "customer", "metadata"});
  auto back = api::ReadCreateBooking(rendered);
  FUZZ_CHECK(back.ok(), "a rendered booking reads back");
  FUZZ_CHECK(back->items == op.items && back->customer == op.customer &&
                 SameJson(back->metadata_json, op.metadata_json),
             "booking fields survive rendering");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const int route = data[0] % 5;
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);

  rapidjson::Document doc;
  if (!api::ParseStrictJson(body, doc).ok()) return 0;
  {
    rapidjson::Document again;
    FUZZ_CHECK(api::ParseStrictJson(Serialize(doc), again).ok(), "re-serialized JSON parses");
    FUZZ_CHECK(SameJson(doc, again), "re-serialized JSON is the same document");
  }

  switch (route) {
    case 0:
    case 1: {
      auto r = api::ReadResourceBody(doc, route == 0);
      if (r.ok()) CheckResource(std::move(r->fields), std::move(r->id));
      break;
    }
    case 2: {
      auto b = api::ReadCreateBooking(doc);
      if (b.ok()) CheckBooking(*b);
      break;
    }
    case 3: {
      auto p = api::ReadBookingPatch(doc);
      if (p.ok() && p->items) CheckItems(*p->items);
      if (p.ok() && p->metadata_json) CheckMetadata(*p->metadata_json);
      break;
    }
    case 4: {
      auto s = api::ReadSearchBody(doc);
      if (!s.ok()) break;
      FUZZ_CHECK(s->range.start < s->range.end, "search range order");
      FUZZ_CHECK(s->duration_s >= 1 && s->step_s >= 1 && 86400 % s->step_s == 0, "search step");
      if (s->resource_ids) {
        for (const auto& id : *s->resource_ids) FUZZ_CHECK(api::IsValidId(id), "search ids");
      }
      break;
    }
  }
  return 0;
}
