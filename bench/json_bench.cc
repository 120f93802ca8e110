// bookd-json-bench: what parsing and validating a POST /v1/bookings body costs with RapidJSON
// (the project's choice), nlohmann::json and simdjson's On-Demand API.
//
// Each contender does the same work as the API layer must: check that the body is valid UTF-8
// JSON, that it is an object with only known members of the right types, and extract the items,
// the customer, hold_seconds and metadata (kept as its JSON text, as the store keeps it) into
// the same plain struct. Times are for one body, including every allocation; simdjson is given
// a buffer that already has its padding, which favours it (a server would have to copy).
#include <benchmark/benchmark.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <simdjson.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

struct Item {
  std::string resource_id;
  std::string start;
  std::string end;
  std::int64_t quantity = 1;
};

struct BookingRequest {
  std::vector<Item> items;
  std::string customer;
  std::int64_t hold_seconds = 0;
  std::string metadata_json;
};

constexpr std::size_t kItemsMax = 100;

std::string MakeBody(int items) {
  std::string body = "{\"items\":[";
  for (int i = 0; i < items; ++i) {
    if (i > 0) body += ",";
    body += "{\"resource_id\":\"room-" + std::to_string(100 + i) +
            "\",\"start\":\"2027-03-01T09:00:00Z\",\"end\":\"2027-03-01T10:00:00+01:00\","
            "\"quantity\":1}";
  }
  body +=
      "],\"customer\":\"alice@example.com\",\"hold_seconds\":600,"
      "\"metadata\":{\"note\":\"window seat \\u00e9\",\"party\":[2,\"adults\"]}}";
  return body;
}

// ---- RapidJSON ----------------------------------------------------------------------------

bool RapidItem(const rapidjson::Value& v, Item* out) {
  if (!v.IsObject()) return false;
  for (const auto& m : v.GetObject()) {
    const std::string_view name(m.name.GetString(), m.name.GetStringLength());
    if (name == "resource_id" && m.value.IsString()) {
      out->resource_id.assign(m.value.GetString(), m.value.GetStringLength());
    } else if (name == "start" && m.value.IsString()) {
      out->start.assign(m.value.GetString(), m.value.GetStringLength());
    } else if (name == "end" && m.value.IsString()) {
      out->end.assign(m.value.GetString(), m.value.GetStringLength());
    } else if (name == "quantity" && m.value.IsInt64()) {
      out->quantity = m.value.GetInt64();
    } else {
      return false;
    }
  }
  return !out->resource_id.empty() && !out->start.empty() && !out->end.empty();
}

std::optional<BookingRequest> ParseRapid(const std::string& body) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(body.data(),
                                                                                    body.size());
  if (doc.HasParseError() || !doc.IsObject()) return std::nullopt;
  BookingRequest req;
  for (const auto& m : doc.GetObject()) {
    const std::string_view name(m.name.GetString(), m.name.GetStringLength());
    if (name == "items" && m.value.IsArray()) {
      const auto items = m.value.GetArray();
      if (items.Empty() || items.Size() > kItemsMax) return std::nullopt;
      req.items.resize(items.Size());
      for (rapidjson::SizeType i = 0; i < items.Size(); ++i) {
        if (!RapidItem(items[i], &req.items[i])) return std::nullopt;
      }
    } else if (name == "customer" && m.value.IsString()) {
      req.customer.assign(m.value.GetString(), m.value.GetStringLength());
    } else if (name == "hold_seconds" && m.value.IsInt64()) {
      req.hold_seconds = m.value.GetInt64();
    } else if (name == "metadata" && m.value.IsObject()) {
      rapidjson::StringBuffer text;
      rapidjson::Writer<rapidjson::StringBuffer> writer(text);
      m.value.Accept(writer);
      req.metadata_json.assign(text.GetString(), text.GetSize());
    } else {
      return std::nullopt;
    }
  }
  if (req.items.empty()) return std::nullopt;
  return req;
}

// ---- nlohmann::json -----------------------------------------------------------------------

std::optional<BookingRequest> ParseNlohmann(const std::string& body) {
  const auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return std::nullopt;
  BookingRequest req;
  for (const auto& [name, value] : doc.items()) {
    if (name == "items" && value.is_array()) {
      if (value.empty() || value.size() > kItemsMax) return std::nullopt;
      for (const auto& v : value) {
        if (!v.is_object()) return std::nullopt;
        Item item;
        for (const auto& [field, x] : v.items()) {
          if (field == "resource_id" && x.is_string()) {
            item.resource_id = x.get_ref<const std::string&>();
          } else if (field == "start" && x.is_string()) {
            item.start = x.get_ref<const std::string&>();
          } else if (field == "end" && x.is_string()) {
            item.end = x.get_ref<const std::string&>();
          } else if (field == "quantity" && x.is_number_integer()) {
            item.quantity = x.get<std::int64_t>();
          } else {
            return std::nullopt;
          }
        }
        if (item.resource_id.empty() || item.start.empty() || item.end.empty()) {
          return std::nullopt;
        }
        req.items.push_back(std::move(item));
      }
    } else if (name == "customer" && value.is_string()) {
      req.customer = value.get_ref<const std::string&>();
    } else if (name == "hold_seconds" && value.is_number_integer()) {
      req.hold_seconds = value.get<std::int64_t>();
    } else if (name == "metadata" && value.is_object()) {
      req.metadata_json = value.dump();
    } else {
      return std::nullopt;
    }
  }
  if (req.items.empty()) return std::nullopt;
  return req;
}

// ---- simdjson On-Demand -------------------------------------------------------------------

bool SimdItem(simdjson::ondemand::value v, Item* out) {
  simdjson::ondemand::object object;
  if (v.get_object().get(object)) return false;
  for (auto field : object) {
    std::string_view name;
    if (field.unescaped_key().get(name)) return false;
    std::string_view text;
    if (name == "resource_id" && !field.value().get_string().get(text)) {
      out->resource_id.assign(text);
    } else if (name == "start" && !field.value().get_string().get(text)) {
      out->start.assign(text);
    } else if (name == "end" && !field.value().get_string().get(text)) {
      out->end.assign(text);
    } else if (name == "quantity" && !field.value().get_int64().get(out->quantity)) {
    } else {
      return false;
    }
  }
  return !out->resource_id.empty() && !out->start.empty() && !out->end.empty();
}

std::optional<BookingRequest> ParseSimd(simdjson::ondemand::parser& parser,
                                        const simdjson::padded_string& body) {
  simdjson::ondemand::document doc;
  if (parser.iterate(body).get(doc)) return std::nullopt;
  simdjson::ondemand::object root;
  if (doc.get_object().get(root)) return std::nullopt;
  BookingRequest req;
  for (auto field : root) {
    std::string_view name;
    if (field.unescaped_key().get(name)) return std::nullopt;
    if (name == "items") {
      simdjson::ondemand::array items;
      if (field.value().get_array().get(items)) return std::nullopt;
      for (auto element : items) {
        simdjson::ondemand::value v;
        if (element.get(v) || req.items.size() == kItemsMax) return std::nullopt;
        if (!SimdItem(v, &req.items.emplace_back())) return std::nullopt;
      }
    } else if (name == "customer") {
      std::string_view text;
      if (field.value().get_string().get(text)) return std::nullopt;
      req.customer.assign(text);
    } else if (name == "hold_seconds") {
      if (field.value().get_int64().get(req.hold_seconds)) return std::nullopt;
    } else if (name == "metadata") {
      simdjson::ondemand::object metadata;
      std::string_view text;
      if (field.value().get_object().get(metadata) || metadata.raw_json().get(text)) {
        return std::nullopt;
      }
      req.metadata_json.assign(text);
    } else {
      return std::nullopt;
    }
  }
  if (req.items.empty()) return std::nullopt;
  return req;
}

// ---- Benchmarks ---------------------------------------------------------------------------

void CheckSame(benchmark::State& state, const std::optional<BookingRequest>& req, int items) {
  if (!req || req->items.size() != static_cast<std::size_t>(items) || req->hold_seconds != 600 ||
      req->items.back().end != "2027-03-01T10:00:00+01:00" || req->metadata_json.empty()) {
    state.SkipWithError("the parser did not extract the expected request");
  }
}

void BM_RapidJSON(benchmark::State& state) {
  const int items = static_cast<int>(state.range(0));
  const std::string body = MakeBody(items);
  CheckSame(state, ParseRapid(body), items);
  for (auto _ : state) benchmark::DoNotOptimize(ParseRapid(body));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(body.size()));
}

void BM_Nlohmann(benchmark::State& state) {
  const int items = static_cast<int>(state.range(0));
  const std::string body = MakeBody(items);
  CheckSame(state, ParseNlohmann(body), items);
  for (auto _ : state) benchmark::DoNotOptimize(ParseNlohmann(body));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(body.size()));
}

void BM_SimdjsonOnDemand(benchmark::State& state) {
  const int items = static_cast<int>(state.range(0));
  const simdjson::padded_string body(MakeBody(items));
  simdjson::ondemand::parser parser;
  CheckSame(state, ParseSimd(parser, body), items);
  for (auto _ : state) benchmark::DoNotOptimize(ParseSimd(parser, body));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(body.size()));
}

// 1 item is the typical body (about 200 bytes); 100 items is the largest the contract allows.
BENCHMARK(BM_RapidJSON)->Arg(1)->Arg(100);
BENCHMARK(BM_Nlohmann)->Arg(1)->Arg(100);
BENCHMARK(BM_SimdjsonOnDemand)->Arg(1)->Arg(100);

}  // namespace

BENCHMARK_MAIN();
