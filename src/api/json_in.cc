#include "api/json_in.h"

#include <rapidjson/encodedstream.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <utility>

#include "api/http_util.h"
#include "domain/schedule.h"
#include "domain/time.h"

namespace bookd::api {
namespace {

using rapidjson::SizeType;
using rapidjson::Value;

// Not kParseFullPrecisionFlag: Debian's RapidJSON 1.1 reaches undefined
// behaviour (clz of zero in diyfp.h) on that path, found by json_body_fuzz.
// The default path may round a decimal number in metadata by one unit in the
// last place; the README lists that limitation.
constexpr unsigned kParseFlags =
    rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;
constexpr std::size_t kFieldErrorsMax = 100;
constexpr std::array<const char*, 7> kDayNames = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

// Forwards SAX events to the document being built, stopping the parse as soon
// as the nesting is too deep, a string holds a NUL, or a string holds a UTF-16
// surrogate on its own.
template <class Next>
class GuardHandler {
 public:
  explicit GuardHandler(Next& next) : next_(next) {}

  bool Null() { return next_.Null(); }
  bool Bool(bool b) { return next_.Bool(b); }
  bool Int(int i) { return next_.Int(i); }
  bool Uint(unsigned u) { return next_.Uint(u); }
  bool Int64(std::int64_t i) { return next_.Int64(i); }
  bool Uint64(std::uint64_t u) { return next_.Uint64(u); }
  // RapidJSON refuses most overflowing numbers, but some (a long mantissa
  // times a large exponent) come through as infinity, which no JSON writer
  // can write back.
  bool Double(double d) {
    if (!std::isfinite(d)) too_big_ = true;
    return !too_big_ && next_.Double(d);
  }
  bool RawNumber(const char* s, SizeType n, bool copy) { return next_.RawNumber(s, n, copy); }
  bool String(const char* s, SizeType n, bool copy) {
    return Acceptable(s, n) && next_.String(s, n, copy);
  }
  bool Key(const char* s, SizeType n, bool copy) {
    return Acceptable(s, n) && next_.Key(s, n, copy);
  }
  bool StartObject() { return Enter() && next_.StartObject(); }
  bool EndObject(SizeType n) {
    --depth_;
    return next_.EndObject(n);
  }
  bool StartArray() { return Enter() && next_.StartArray(); }
  bool EndArray(SizeType n) {
    --depth_;
    return next_.EndArray(n);
  }

  bool too_deep() const { return too_deep_; }
  bool nul() const { return nul_; }
  bool surrogate() const { return surrogate_; }
  bool too_big() const { return too_big_; }

 private:
  bool Enter() {
    if (++depth_ > kJsonDepthMax) too_deep_ = true;
    return !too_deep_;
  }
  // The raw bytes were validated as UTF-8, but RapidJSON 1.1 decodes a lone
  // \uDC00-\uDFFF escape into the bytes of that surrogate code point
  // (ED B0-BF xx), which is not UTF-8 and could not be written back.
  bool Acceptable(const char* s, SizeType n) {
    if (std::memchr(s, 0, n) != nullptr) nul_ = true;
    for (SizeType i = 0; i + 1 < n && !surrogate_; ++i) {
      const auto lead = static_cast<unsigned char>(s[i]);
      const auto next = static_cast<unsigned char>(s[i + 1]);
      if (lead == 0xED && next >= 0xA0) surrogate_ = true;
    }
    return !nul_ && !surrogate_;
  }

  Next& next_;
  int depth_ = 0;
  bool too_deep_ = false;
  bool nul_ = false;
  bool surrogate_ = false;
  bool too_big_ = false;
};

// Runs the reader for Document::Populate, remembering why it stopped.
struct Generator {
  std::string_view body;
  rapidjson::ParseResult result;
  bool too_deep = false;
  bool nul = false;
  bool surrogate = false;
  bool too_big = false;

  bool operator()(rapidjson::Document& doc) {
    GuardHandler<rapidjson::Document> guard(doc);
    rapidjson::MemoryStream bytes(body.data(), body.size());
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> in(bytes);
    rapidjson::Reader reader;
    result = reader.Parse<kParseFlags>(in, guard);
    too_deep = guard.too_deep();
    nul = guard.nul();
    surrogate = guard.surrogate();
    too_big = guard.too_big();
    return !result.IsError();
  }
};

// The first member name that occurs twice in one object, if any. Iterative;
// the depth is already bounded but the walk does not rely on it.
std::optional<std::string> FindDuplicateMember(const Value& root) {
  std::vector<const Value*> todo{&root};
  std::vector<std::string_view> names;
  while (!todo.empty()) {
    const Value* v = todo.back();
    todo.pop_back();
    if (v->IsArray()) {
      for (const Value& e : v->GetArray()) todo.push_back(&e);
    } else if (v->IsObject()) {
      names.clear();
      for (const auto& m : v->GetObject()) {
        names.emplace_back(m.name.GetString(), m.name.GetStringLength());
        todo.push_back(&m.value);
      }
      std::sort(names.begin(), names.end());
      auto dup = std::adjacent_find(names.begin(), names.end());
      if (dup != names.end()) return std::string(*dup);
    }
  }
  return std::nullopt;
}

std::string_view Name(const Value& v) { return {v.GetString(), v.GetStringLength()}; }

// Collects the field errors of one request body.
class Fields {
 public:
  void Fail(std::string pointer, std::string detail) {
    if (errors_.size() < kFieldErrorsMax) {
      errors_.push_back({std::move(pointer), "", std::move(detail)});
    }
  }
  bool ok() const { return errors_.empty(); }
  Error TakeError() {
    Error e = MakeError(Errc::kValidation, "the request body is not valid");
    e.errors = std::move(errors_);
    return e;
  }

  bool Object(const Value& v, const std::string& ptr) {
    if (v.IsObject()) return true;
    Fail(ptr, "must be an object");
    return false;
  }

  // Refuses members of `obj` that are not in `known`.
  void OnlyKnown(const Value& obj, const std::string& base,
                 std::initializer_list<std::string_view> known) {
    for (const auto& m : obj.GetObject()) {
      if (std::find(known.begin(), known.end(), Name(m.name)) == known.end()) {
        Fail(base + "/" + PointerEscape(Name(m.name)), "is not a known field");
      }
    }
  }

  std::optional<std::string> Str(const Value& v, const std::string& ptr, std::size_t min_cp,
                                 std::size_t max_cp) {
    if (!v.IsString()) {
      Fail(ptr, "must be a string");
      return std::nullopt;
    }
    std::size_t n = CodePoints(Name(v));
    if (n < min_cp || n > max_cp) {
      Fail(ptr,
           "must have " + std::to_string(min_cp) + " to " + std::to_string(max_cp) + " characters");
      return std::nullopt;
    }
    return std::string(Name(v));
  }

  std::optional<std::string> Id(const Value& v, const std::string& ptr) {
    if (!v.IsString()) {
      Fail(ptr, "must be a string");
      return std::nullopt;
    }
    if (!IsValidId(Name(v))) {
      Fail(ptr, "must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$");
      return std::nullopt;
    }
    return std::string(Name(v));
  }

  // Integers only: 3 and 3.0 and 3e0 are the same number, 3.5 is not an integer.
  std::optional<std::int64_t> Int(const Value& v, const std::string& ptr, std::int64_t min,
                                  std::int64_t max) {
    std::string range =
        "must be an integer from " + std::to_string(min) + " to " + std::to_string(max);
    if (v.IsInt64()) {
      std::int64_t i = v.GetInt64();
      if (i < min || i > max) {
        Fail(ptr, range);
        return std::nullopt;
      }
      return i;
    }
    if (v.IsUint64()) {  // above INT64_MAX
      Fail(ptr, range);
      return std::nullopt;
    }
    if (!v.IsNumber()) {
      Fail(ptr, "must be an integer");
      return std::nullopt;
    }
    double d = v.GetDouble();
    if (!std::isfinite(d) || d != std::trunc(d)) {
      Fail(ptr, "must be an integer");
      return std::nullopt;
    }
    if (d < static_cast<double>(min) || d > static_cast<double>(max)) {
      Fail(ptr, range);
      return std::nullopt;
    }
    return static_cast<std::int64_t>(d);
  }

  std::optional<domain::Instant> Time(const Value& v, const std::string& ptr) {
    if (!v.IsString()) {
      Fail(ptr, "must be an RFC 3339 string such as 2027-03-01T09:00:00Z");
      return std::nullopt;
    }
    Result<domain::Instant> t = domain::ParseInstant(Name(v));
    if (!t.ok()) {
      Fail(ptr, t.error().detail);
      return std::nullopt;
    }
    return *t;
  }

  std::optional<std::string> Metadata(const Value& v, const std::string& ptr) {
    if (!Object(v, ptr)) return std::nullopt;
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    v.Accept(w);  // depth is bounded by kJsonDepthMax
    if (buf.GetSize() > kMetadataBytesMax) {
      Fail(ptr, "must be at most 16 KiB when serialized");
      return std::nullopt;
    }
    return std::string(buf.GetString(), buf.GetSize());
  }

  // {"start": ..., "end": ...} with start < end.
  std::optional<domain::Interval> Span(const Value& v, const std::string& ptr) {
    if (!Object(v, ptr)) return std::nullopt;
    OnlyKnown(v, ptr, {"start", "end"});
    auto start = Required(v, ptr, "start", &Fields::Time);
    auto end = Required(v, ptr, "end", &Fields::Time);
    if (!start || !end) return std::nullopt;
    if (*start >= *end) {
      Fail(ptr + "/end", "must be after start");
      return std::nullopt;
    }
    return domain::Interval{*start, *end};
  }

  template <class F>
  auto Required(const Value& obj, const std::string& ptr, const char* name, F read)
      -> decltype((this->*read)(obj, ptr)) {
    auto it = obj.FindMember(name);
    if (it == obj.MemberEnd()) {
      Fail(ptr + "/" + name, "is required");
      return std::nullopt;
    }
    return (this->*read)(it->value, ptr + "/" + name);
  }

  std::optional<std::vector<domain::Item>> Items(const Value& v, const std::string& ptr) {
    if (!v.IsArray()) {
      Fail(ptr, "must be a list");
      return std::nullopt;
    }
    if (v.Size() < 1 || v.Size() > kItemsMax) {
      Fail(ptr, "must have 1 to 100 items");
      return std::nullopt;
    }
    std::vector<domain::Item> items;
    bool good = true;
    for (SizeType i = 0; i < v.Size(); ++i) {
      std::string at = ptr + "/" + std::to_string(i);
      std::optional<domain::Item> item = ReadItem(v[i], at);
      if (item) {
        items.push_back(std::move(*item));
      } else {
        good = false;
      }
    }
    if (!good) return std::nullopt;
    return items;
  }

  std::optional<std::optional<domain::WeeklyHours>> Hours(const Value& v, const std::string& ptr) {
    if (v.IsNull()) return std::optional<domain::WeeklyHours>();
    if (!Object(v, ptr)) return std::nullopt;
    domain::WeeklyHours hours;
    bool good = true;
    for (const auto& m : v.GetObject()) {
      std::string at = ptr + "/" + PointerEscape(Name(m.name));
      auto day = std::find(kDayNames.begin(), kDayNames.end(), Name(m.name));
      if (day == kDayNames.end()) {
        Fail(at, "is not a day; days are mon, tue, wed, thu, fri, sat, sun");
        good = false;
        continue;
      }
      std::optional<domain::DaySpans> spans = DaySpans(m.value, at);
      if (spans) {
        hours.days[day - kDayNames.begin()] = std::move(*spans);
      } else {
        good = false;
      }
    }
    if (!good) return std::nullopt;
    return std::optional<domain::WeeklyHours>(std::move(hours));
  }

  std::optional<std::vector<domain::Interval>> Closures(const Value& v, const std::string& ptr) {
    if (!v.IsArray()) {
      Fail(ptr, "must be a list");
      return std::nullopt;
    }
    if (v.Size() > kClosuresMax) {
      Fail(ptr, "must have at most " + std::to_string(kClosuresMax) + " closures");
      return std::nullopt;
    }
    std::vector<domain::Interval> closures;
    bool good = true;
    for (SizeType i = 0; i < v.Size(); ++i) {
      auto span = Span(v[i], ptr + "/" + std::to_string(i));
      if (span) {
        closures.push_back(*span);
      } else {
        good = false;
      }
    }
    if (!good) return std::nullopt;
    return closures;
  }

 private:
  std::optional<domain::Item> ReadItem(const Value& v, const std::string& ptr) {
    if (!Object(v, ptr)) return std::nullopt;
    OnlyKnown(v, ptr, {"resource_id", "start", "end", "quantity"});
    domain::Item item;
    auto id = Required(v, ptr, "resource_id", &Fields::Id);
    auto start = Required(v, ptr, "start", &Fields::Time);
    auto end = Required(v, ptr, "end", &Fields::Time);
    std::optional<std::int64_t> quantity = 1;
    if (auto q = v.FindMember("quantity"); q != v.MemberEnd()) {
      quantity = Int(q->value, ptr + "/quantity", 1, kCapacityMax);
    }
    if (start && end && *start >= *end) {
      Fail(ptr + "/end", "must be after start");
      return std::nullopt;
    }
    if (start && end && *end - *start > kItemSecondsMax) {
      Fail(ptr + "/end", "an item lasts at most 366 days");
      return std::nullopt;
    }
    if (!id || !start || !end || !quantity) return std::nullopt;
    return domain::Item{*id, *start, *end, *quantity};
  }

  std::optional<domain::DaySpans> DaySpans(const Value& v, const std::string& ptr) {
    if (!v.IsArray()) {
      Fail(ptr, "must be a list of [\"HH:MM\", \"HH:MM\"] pairs");
      return std::nullopt;
    }
    if (v.Size() > kSpansPerDayMax) {
      Fail(ptr, "must have at most " + std::to_string(kSpansPerDayMax) + " pairs");
      return std::nullopt;
    }
    domain::DaySpans spans;
    for (SizeType i = 0; i < v.Size(); ++i) {
      std::string at = ptr + "/" + std::to_string(i);
      const Value& pair = v[i];
      if (!pair.IsArray() || pair.Size() != 2 || !pair[0].IsString() || !pair[1].IsString()) {
        Fail(at, "must be a pair [\"HH:MM\", \"HH:MM\"]");
        return std::nullopt;
      }
      std::optional<int> from = domain::ParseClock(Name(pair[0]));
      std::optional<int> to = domain::ParseClock(Name(pair[1]));
      if (!from) Fail(at + "/0", "must be a time of day HH:MM");
      if (!to) Fail(at + "/1", "must be a time of day HH:MM (24:00 allowed)");
      if (!from || !to) return std::nullopt;
      if (*from >= *to) {
        Fail(at + "/1", "must be after the opening time");
        return std::nullopt;
      }
      if (!spans.empty() && *from < spans.back().second) {
        Fail(at, "must start after the previous pair ends (pairs in order, not overlapping)");
        return std::nullopt;
      }
      spans.emplace_back(*from, *to);
    }
    return spans;
  }

  std::vector<FieldError> errors_;
};

const Value* Member(const Value& obj, const char* name) {
  auto it = obj.FindMember(name);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

}  // namespace

Status ParseStrictJson(std::string_view body, rapidjson::Document& doc) {
  if (body.empty()) return MakeError(Errc::kBadRequest, "the request needs a JSON body");
  // A raw NUL is never valid JSON, and MemoryStream would read it as the end.
  if (body.find('\0') != std::string_view::npos) {
    return MakeError(Errc::kBadRequest, "the body holds a NUL byte");
  }
  Generator gen{body, {}, false, false, false, false};
  doc.Populate(gen);
  if (gen.too_deep) {
    return MakeError(Errc::kBadRequest,
                     "the JSON nests deeper than " + std::to_string(kJsonDepthMax) + " levels");
  }
  if (gen.nul) return MakeError(Errc::kBadRequest, "a JSON string holds a NUL character");
  if (gen.surrogate) {
    return MakeError(Errc::kBadRequest,
                     "a JSON string holds an unpaired UTF-16 surrogate (\\uD800 to \\uDFFF)");
  }
  if (gen.too_big) return MakeError(Errc::kBadRequest, "a JSON number is too large for a double");
  if (gen.result.IsError()) {
    return MakeError(Errc::kBadRequest, std::string("malformed JSON: ") +
                                            rapidjson::GetParseError_En(gen.result.Code()) +
                                            " (at byte " + std::to_string(gen.result.Offset()) +
                                            ")");
  }
  if (auto dup = FindDuplicateMember(doc)) {
    return MakeError(Errc::kBadRequest, "duplicate member \"" + *dup + "\" in a JSON object");
  }
  return Ok{};
}

std::string PointerEscape(std::string_view member) {
  std::string out;
  out.reserve(member.size());
  for (char c : member) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Result<ResourceBody> ReadResourceBody(const Value& doc, bool create) {
  Fields f;
  if (!f.Object(doc, "")) return f.TakeError();
  if (create) {
    f.OnlyKnown(doc, "", {"id", "name", "capacity", "timezone", "hours", "closures", "metadata"});
  } else {
    f.OnlyKnown(doc, "", {"name", "capacity", "timezone", "hours", "closures", "metadata"});
  }

  ResourceBody out;
  if (const Value* v = Member(doc, "id"); v && create && !v->IsNull()) out.id = f.Id(*v, "/id");
  if (const Value* v = Member(doc, "name")) {
    out.fields.name = f.Str(*v, "/name", 1, kNameCodePointsMax);
  } else if (create) {
    f.Fail("/name", "is required");
  }
  if (const Value* v = Member(doc, "capacity")) {
    out.fields.capacity = f.Int(*v, "/capacity", 1, kCapacityMax);
  }
  if (const Value* v = Member(doc, "timezone")) {
    if (auto tz = f.Str(*v, "/timezone", 1, 128)) {
      if (domain::IsKnownTimeZone(*tz)) {
        out.fields.timezone = std::move(tz);
      } else {
        f.Fail("/timezone", "is not a known IANA time zone such as Europe/Berlin");
      }
    }
  }
  if (const Value* v = Member(doc, "hours")) out.fields.hours = f.Hours(*v, "/hours");
  if (const Value* v = Member(doc, "closures")) out.fields.closures = f.Closures(*v, "/closures");
  if (const Value* v = Member(doc, "metadata")) {
    out.fields.metadata_json = f.Metadata(*v, "/metadata");
  }

  if (!f.ok()) return f.TakeError();
  return out;
}

domain::Resource ResourceFromBody(ResourceBody body) {
  domain::Resource r;
  r.id = body.id.value_or("");
  storage::ResourcePatch& p = body.fields;
  if (p.name) r.name = std::move(*p.name);
  if (p.capacity) r.capacity = *p.capacity;
  if (p.timezone) r.timezone = std::move(*p.timezone);
  if (p.hours) r.hours = std::move(*p.hours);
  if (p.closures) r.closures = std::move(*p.closures);
  if (p.metadata_json) r.metadata_json = std::move(*p.metadata_json);
  return r;
}

Result<storage::CreateBooking> ReadCreateBooking(const Value& doc) {
  Fields f;
  if (!f.Object(doc, "")) return f.TakeError();
  f.OnlyKnown(doc, "", {"items", "customer", "hold_seconds", "metadata"});

  storage::CreateBooking out;
  if (const Value* v = Member(doc, "items")) {
    if (auto items = f.Items(*v, "/items")) out.items = std::move(*items);
  } else {
    f.Fail("/items", "is required");
  }
  if (const Value* v = Member(doc, "customer"); v && !v->IsNull()) {
    out.customer = f.Str(*v, "/customer", 0, kCustomerCodePointsMax);
  }
  if (const Value* v = Member(doc, "hold_seconds"); v && !v->IsNull()) {
    out.hold_seconds = f.Int(*v, "/hold_seconds", 1, kHoldSecondsMax);
  }
  if (const Value* v = Member(doc, "metadata")) {
    if (auto m = f.Metadata(*v, "/metadata")) out.metadata_json = std::move(*m);
  }

  if (!f.ok()) return f.TakeError();
  return out;
}

Result<storage::BookingPatch> ReadBookingPatch(const Value& doc) {
  Fields f;
  if (!f.Object(doc, "")) return f.TakeError();
  f.OnlyKnown(doc, "", {"items", "customer", "metadata"});

  storage::BookingPatch out;
  if (const Value* v = Member(doc, "items")) out.items = f.Items(*v, "/items");
  if (const Value* v = Member(doc, "customer")) {
    if (v->IsNull()) {
      out.customer = std::optional<std::string>();
    } else if (auto c = f.Str(*v, "/customer", 0, kCustomerCodePointsMax)) {
      out.customer = std::optional<std::string>(std::move(*c));
    }
  }
  if (const Value* v = Member(doc, "metadata")) out.metadata_json = f.Metadata(*v, "/metadata");

  if (!f.ok()) return f.TakeError();
  return out;
}

Result<SearchBody> ReadSearchBody(const Value& doc) {
  Fields f;
  if (!f.Object(doc, "")) return f.TakeError();
  f.OnlyKnown(doc, "",
              {"resource_ids", "from", "to", "duration", "step", "quantity", "limit_per_resource"});

  SearchBody out;
  if (const Value* v = Member(doc, "resource_ids"); v && !v->IsNull()) {
    if (!v->IsArray()) {
      f.Fail("/resource_ids", "must be a list of resource ids");
    } else if (v->Size() > kSearchResourcesMax) {
      f.Fail("/resource_ids", "must have at most 10000 ids");
    } else {
      std::vector<std::string> ids;
      for (SizeType i = 0; i < v->Size(); ++i) {
        if (auto id = f.Id((*v)[i], "/resource_ids/" + std::to_string(i))) ids.push_back(*id);
      }
      out.resource_ids = std::move(ids);
    }
  }
  auto from = f.Required(doc, "", "from", &Fields::Time);
  auto to = f.Required(doc, "", "to", &Fields::Time);
  if (from && to) {
    if (*from >= *to) {
      f.Fail("/to", "must be after from");
    } else if (*to - *from > kItemSecondsMax) {
      f.Fail("/to", "the range is at most 366 days");
    } else {
      out.range = {*from, *to};
    }
  }
  const Value* duration = Member(doc, "duration");
  if (duration == nullptr) {
    f.Fail("/duration", "is required");
  } else if (auto d = f.Int(*duration, "/duration", 1, kItemSecondsMax)) {
    out.duration_s = *d;
  }
  out.step_s = out.duration_s;
  if (const Value* v = Member(doc, "step")) {
    if (auto s = f.Int(*v, "/step", 1, 86400)) out.step_s = *s;
  }
  if (out.step_s > 0 && (out.step_s > 86400 || 86400 % out.step_s != 0)) {
    f.Fail(Member(doc, "step") ? "/step" : "/duration",
           "the step (default: duration) must divide 86400");
  }
  if (const Value* v = Member(doc, "quantity")) {
    if (auto q = f.Int(*v, "/quantity", 1, kCapacityMax)) out.quantity = *q;
  }
  if (const Value* v = Member(doc, "limit_per_resource")) {
    if (auto l = f.Int(*v, "/limit_per_resource", 1, kSlotLimitMax)) out.limit_per_resource = *l;
  }

  if (!f.ok()) return f.TakeError();
  return out;
}

}  // namespace bookd::api
