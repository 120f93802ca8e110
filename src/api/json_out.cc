#include "api/json_out.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "domain/schedule.h"
#include "domain/time.h"

namespace bookd::api {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

constexpr const char* kDayNames[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

void Str(Writer& w, const std::string& s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void Time(Writer& w, domain::Instant t) { Str(w, domain::FormatInstant(t)); }

void Span(Writer& w, domain::Interval span) {
  w.StartObject();
  w.Key("start");
  Time(w, span.start);
  w.Key("end");
  Time(w, span.end);
  w.EndObject();
}

void Metadata(Writer& w, const std::string& json) {
  const std::string& raw = json.empty() ? std::string("{}") : json;
  w.RawValue(raw.data(), raw.size(), rapidjson::kObjectType);
}

void Cursor(Writer& w, const std::string* next_cursor) {
  w.Key("next_cursor");
  if (next_cursor != nullptr) {
    Str(w, *next_cursor);
  } else {
    w.Null();
  }
}

void WriteResource(Writer& w, const domain::Resource& r) {
  w.StartObject();
  w.Key("id");
  Str(w, r.id);
  w.Key("name");
  Str(w, r.name);
  w.Key("capacity");
  w.Int64(r.capacity);
  w.Key("timezone");
  Str(w, r.timezone);
  w.Key("hours");
  if (!r.hours) {
    w.Null();
  } else {
    w.StartObject();
    for (int d = 0; d < 7; ++d) {
      const domain::DaySpans& spans = r.hours->days[d];
      if (spans.empty()) continue;
      w.Key(kDayNames[d]);
      w.StartArray();
      for (const auto& [from, to] : spans) {
        w.StartArray();
        Str(w, domain::FormatClock(from));
        Str(w, domain::FormatClock(to));
        w.EndArray();
      }
      w.EndArray();
    }
    w.EndObject();
  }
  w.Key("closures");
  w.StartArray();
  for (const domain::Interval& c : r.closures) Span(w, c);
  w.EndArray();
  w.Key("metadata");
  Metadata(w, r.metadata_json);
  w.Key("version");
  w.Int64(r.version);
  w.Key("created_at");
  Time(w, r.created_at);
  w.Key("updated_at");
  Time(w, r.updated_at);
  w.EndObject();
}

void WriteBooking(Writer& w, const domain::Booking& b, domain::Instant now) {
  domain::BookingStatus status = domain::EffectiveStatus(b, now);
  w.StartObject();
  w.Key("id");
  Str(w, b.id);
  w.Key("status");
  w.String(domain::StatusName(status));
  w.Key("items");
  w.StartArray();
  for (const domain::Item& item : b.items) {
    w.StartObject();
    w.Key("resource_id");
    Str(w, item.resource_id);
    w.Key("start");
    Time(w, item.start);
    w.Key("end");
    Time(w, item.end);
    w.Key("quantity");
    w.Int64(item.quantity);
    w.EndObject();
  }
  w.EndArray();
  w.Key("customer");
  if (b.customer) {
    Str(w, *b.customer);
  } else {
    w.Null();
  }
  w.Key("metadata");
  Metadata(w, b.metadata_json);
  if (status == domain::BookingStatus::kHeld && b.expires_at) {
    w.Key("expires_at");
    Time(w, *b.expires_at);
  }
  w.Key("version");
  w.Int64(b.version);
  w.Key("created_at");
  Time(w, b.created_at);
  w.Key("updated_at");
  Time(w, b.updated_at);
  w.EndObject();
}

void WriteSlots(Writer& w, const domain::SlotAnswer& answer) {
  w.Key("slots");
  w.StartArray();
  for (const domain::Interval& s : answer.slots) Span(w, s);
  w.EndArray();
  w.Key("truncated");
  w.Bool(answer.truncated);
}

std::string Take(const rapidjson::StringBuffer& buf) {
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace

std::string ResourceJson(const domain::Resource& r) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  WriteResource(w, r);
  return Take(buf);
}

std::string BookingJson(const domain::Booking& b, domain::Instant now) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  WriteBooking(w, b, now);
  return Take(buf);
}

std::string ResourceListJson(const std::vector<domain::Resource>& data,
                             const std::string* next_cursor) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("data");
  w.StartArray();
  for (const domain::Resource& r : data) WriteResource(w, r);
  w.EndArray();
  Cursor(w, next_cursor);
  w.EndObject();
  return Take(buf);
}

std::string BookingListJson(const std::vector<domain::Booking>& data, domain::Instant now,
                            const std::string* next_cursor) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("data");
  w.StartArray();
  for (const domain::Booking& b : data) WriteBooking(w, b, now);
  w.EndArray();
  Cursor(w, next_cursor);
  w.EndObject();
  return Take(buf);
}

std::string AvailabilityJson(const std::string& resource_id, domain::Interval range,
                             const std::vector<domain::FreeInterval>& intervals) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("resource_id");
  Str(w, resource_id);
  w.Key("from");
  Time(w, range.start);
  w.Key("to");
  Time(w, range.end);
  w.Key("intervals");
  w.StartArray();
  for (const domain::FreeInterval& f : intervals) {
    w.StartObject();
    w.Key("start");
    Time(w, f.span.start);
    w.Key("end");
    Time(w, f.span.end);
    w.Key("available");
    w.Int64(f.available);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return Take(buf);
}

std::string SlotsJson(const std::string& resource_id, const domain::SlotAnswer& answer) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("resource_id");
  Str(w, resource_id);
  WriteSlots(w, answer);
  w.EndObject();
  return Take(buf);
}

std::string SearchResultJson(const SearchResult& r) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("resource_id");
  Str(w, r.resource_id);
  WriteSlots(w, r.answer);
  w.EndObject();
  return Take(buf);
}

std::string SearchJsonOf(const std::vector<std::string>& rendered) {
  constexpr std::string_view kHead = "{\"results\":[";
  constexpr std::string_view kTail = "]}";
  std::size_t size = kHead.size() + kTail.size();
  for (const std::string& r : rendered) size += r.size() + 1;
  std::string out;
  out.reserve(size);
  out += kHead;
  for (std::size_t i = 0; i < rendered.size(); ++i) {
    if (i > 0) out += ',';
    out += rendered[i];
  }
  out += kTail;
  return out;
}

std::string SearchJson(const std::vector<SearchResult>& results) {
  std::vector<std::string> rendered;
  rendered.reserve(results.size());
  for (const SearchResult& r : results) rendered.push_back(SearchResultJson(r));
  return SearchJsonOf(rendered);
}

}  // namespace bookd::api
