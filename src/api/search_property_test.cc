// Property: POST /v1/availability/search answers, for every resource it names,
// exactly what GET /v1/resources/{id}/slots answers with the same range,
// duration, step and quantity and limit=limit_per_resource: the same slots in
// the same order and the same truncated flag, in resource_ids order.
//
// Method: fixed seeds generate a few dozen worlds on a real SQLite store (on
// tmpfs when there is one, so that fsync costs nothing): resources of capacity
// 1..5 in UTC, Europe/Berlin, America/New_York, Australia/Lord_Howe (a
// 30-minute DST shift) and Asia/Kathmandu (+05:45), with random weekly hours
// (also none at all, and open around the clock), random closures, and bookings
// made through the API that end up confirmed, held, expired (the fake clock
// passes their expires_at) or cancelled. Each world is then queried over
// random ranges around its time zones' DST change days with random duration,
// step (a divisor of 86400), quantity and limit, both ways, and the answers
// are compared as JSON values. Ranges both shorter and longer than
// inline_range_s_max are used, so slots runs inline and on the pool.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <future>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "api/api.h"
#include "common/crypto.h"
#include "domain/time.h"
#include "storage/sqlite_store.h"

namespace bookd::api {
namespace {

namespace bhttp = boost::beast::http;

constexpr domain::Instant kJan2027 = 1798761600;  // 2027-01-01T00:00:00Z
constexpr std::int64_t kDay = 86400;
constexpr int kCases = 36;
constexpr int kQueriesPerCase = 4;
constexpr char kSecret[] = "property-admin-secret";

class FakeClock final : public domain::Clock {
 public:
  domain::Instant Now() const override { return now_.load(); }
  void Advance(std::int64_t s) { now_.fetch_add(s); }

 private:
  std::atomic<domain::Instant> now_{kJan2027};
};

struct Zone {
  const char* name;
  std::vector<domain::Instant> change_days;  // UTC midnight of the days clocks change
};

// 2027: Berlin 28 Mar / 31 Oct, New York 14 Mar / 7 Nov, Lord Howe 4 Apr (back
// 30 min) / 3 Oct (forward 30 min); Kathmandu and UTC have none, so they get
// the others' days.
const std::vector<Zone>& Zones() {
  static const std::vector<Zone> zones = {
      {"UTC", {1805846400, 1824940800}},
      {"Europe/Berlin", {1805846400, 1824940800}},
      {"America/New_York", {1804809600, 1825545600}},
      {"Australia/Lord_Howe", {1806624000, 1822521600}},
      {"Asia/Kathmandu", {1804809600, 1822521600}},
  };
  return zones;
}

// Steps that divide 86400, from one minute to a day, including ones that a
// 30-minute or a one-hour clock change does not divide.
constexpr std::int64_t kSteps[] = {60,   300,  600,  900,   1200,  1800,  2700,  3200, 3600,
                                   4800, 5400, 7200, 10800, 14400, 21600, 43200, 86400};

std::string Quote(const std::string& s) { return "\"" + s + "\""; }

std::string At(domain::Instant t) { return Quote(domain::FormatInstant(t)); }

std::string HourMinute(int minutes) {
  assert(minutes >= 0 && minutes <= 1440);
  char text[] = "00:00";
  text[0] = static_cast<char>('0' + minutes / 600);
  text[1] = static_cast<char>('0' + minutes / 60 % 10);
  text[3] = static_cast<char>('0' + minutes % 60 / 10);
  text[4] = static_cast<char>('0' + minutes % 10);
  return text;
}

class Generator {
 public:
  explicit Generator(std::uint32_t seed) : rng_(seed) {}

  std::int64_t Int(std::int64_t lo, std::int64_t hi) {  // inclusive
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng_);
  }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  template <class T>
  const T& Pick(const std::vector<T>& v) {
    return v[static_cast<std::size_t>(Int(0, static_cast<std::int64_t>(v.size()) - 1))];
  }
  std::mt19937& rng() { return rng_; }

  // Weekly hours: absent (open around the clock), {} (never open), or per day
  // closed or one to three ranges on a grid that is sometimes one minute
  // (so that some start or end inside a DST gap or overlap).
  std::string Hours() {
    if (Chance(0.2)) return "";
    if (Chance(0.08)) return ",\"hours\":{}";
    static const char* const kDays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
    static const std::vector<int> kGrids = {1, 15, 30, 60};
    std::string out = ",\"hours\":{";
    bool first_day = true;
    for (const char* day : kDays) {
      if (Chance(0.25)) continue;
      int grid = Pick(kGrids);
      std::vector<int> marks;
      int pairs = static_cast<int>(Int(1, 3));
      for (int attempt = 0; attempt < 20 && static_cast<int>(marks.size()) < 2 * pairs; ++attempt) {
        int m = static_cast<int>(Int(0, 1440 / grid)) * grid;
        if (std::find(marks.begin(), marks.end(), m) == marks.end()) marks.push_back(m);
      }
      if (marks.size() % 2 == 1) marks.pop_back();
      if (marks.empty()) continue;
      std::sort(marks.begin(), marks.end());
      out += std::string(first_day ? "" : ",") + "\"" + day + "\":[";
      first_day = false;
      for (std::size_t i = 0; i < marks.size(); i += 2) {
        out += std::string(i ? "," : "") + "[" + Quote(HourMinute(marks[i])) + "," +
               Quote(HourMinute(marks[i + 1])) + "]";
      }
      out += "]";
    }
    return out + "}";
  }

  std::string Closures(domain::Instant around) {
    std::string out = ",\"closures\":[";
    int n = static_cast<int>(Int(0, 2));
    for (int i = 0; i < n; ++i) {
      domain::Instant start = around + Int(-2 * kDay, 2 * kDay) / 60 * 60;
      domain::Instant end = start + Int(1, 24 * 60) * 60;
      out += std::string(i ? "," : "") + "{\"start\":" + At(start) + ",\"end\":" + At(end) + "}";
    }
    return out + "]";
  }

 private:
  std::mt19937 rng_;
};

struct World {
  std::vector<std::string> ids;
  std::vector<std::int64_t> capacities;
  domain::Instant center = 0;  // a DST change day of the first resource's zone
};

class SearchPropertyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::filesystem::path shm = "/dev/shm";
    const auto base =
        std::filesystem::is_directory(shm) ? shm : std::filesystem::temp_directory_path();
    dir_ = base / ("bookd_search_property_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    storage::SqliteOptions options;
    options.path = (dir_ / "bookd.db").string();
    auto store = storage::OpenSqliteStore(options, clock_);
    ASSERT_TRUE(store.ok()) << store.error().detail;
    store_ = std::move(*store);
    pool_ = std::make_unique<pool::CpuPool>(2, 64);
    ApiOptions api_options;
    api_options.inline_range_s_max = 2 * kDay;
    api_ = std::make_unique<Api>(*store_, *pool_, clock_, api_options);
    ASSERT_TRUE(store_->CreateKey("default", storage::Role::kAdmin, Sha256Hex(kSecret)).ok());
  }

  void TearDown() override {
    api_.reset();
    pool_->Join();
    store_->Close();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Sends one request; returns the status and fills `json` with the body.
  int Send(bhttp::verb method, const std::string& target, const std::string& body,
           rapidjson::Document* json) {
    http::Request req{method, target, 11};
    req.set(bhttp::field::authorization, std::string("Bearer ") + kSecret);
    if (!body.empty()) req.set(bhttp::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();

    std::promise<http::Response> promise;
    auto future = promise.get_future();
    api_->Handle(std::move(req), "req-property",
                 [&promise](http::Response res) { promise.set_value(std::move(res)); });
    // A generous bound so that a lost answer fails the test instead of hanging it.
    if (future.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
      ADD_FAILURE() << "no answer to " << target;
      return 0;
    }
    http::Response res = future.get();
    json->Parse(res.body().c_str());
    EXPECT_FALSE(json->HasParseError()) << target << ": " << res.body();
    return static_cast<int>(res.result_int());
  }

  // Creates 1..4 resources and books on them through the API; afterwards the
  // fake clock has moved past the short holds' expires_at.
  World MakeWorld(Generator& g, int case_no) {
    World w;
    int n = static_cast<int>(g.Int(1, 4));
    const Zone& first_zone = g.Pick(Zones());
    w.center = g.Pick(first_zone.change_days);
    for (int i = 0; i < n; ++i) {
      const Zone& zone = i == 0 ? first_zone : g.Pick(Zones());
      std::string id = "c" + std::to_string(case_no) + "-r" + std::to_string(i);
      std::int64_t capacity = g.Int(1, 5);
      std::string body = "{\"id\":" + Quote(id) +
                         ",\"name\":\"property\",\"capacity\":" + std::to_string(capacity) +
                         ",\"timezone\":" + Quote(zone.name) + g.Hours() + g.Closures(w.center) +
                         "}";
      rapidjson::Document doc;
      EXPECT_EQ(Send(bhttp::verb::post, "/v1/resources", body, &doc), 201) << body;
      w.ids.push_back(id);
      w.capacities.push_back(capacity);
    }

    // Bookings: confirmed, long holds, short holds (expired below), cancelled.
    std::vector<std::string> to_cancel;
    std::vector<std::string> to_confirm;
    int bookings = static_cast<int>(g.Int(0, 10 * n));
    for (int b = 0; b < bookings; ++b) {
      std::size_t r = static_cast<std::size_t>(g.Int(0, n - 1));
      domain::Instant start = w.center + g.Int(-2 * kDay, 2 * kDay) / 300 * 300;
      domain::Instant end = start + g.Int(1, 12) * 900;
      std::string body = "{\"items\":[{\"resource_id\":" + Quote(w.ids[r]) +
                         ",\"start\":" + At(start) + ",\"end\":" + At(end) +
                         ",\"quantity\":" + std::to_string(g.Int(1, w.capacities[r])) + "}]";
      // 0 confirmed, 1 held, 2 held but expired below, 3 cancelled, 4 held then confirmed.
      int kind = static_cast<int>(g.Int(0, 4));
      if (kind == 1 || kind == 4) body += ",\"hold_seconds\":86400";
      if (kind == 2) body += ",\"hold_seconds\":" + std::to_string(g.Int(1, 3000));
      body += "}";
      rapidjson::Document doc;
      int status = Send(bhttp::verb::post, "/v1/bookings", body, &doc);
      EXPECT_TRUE(status == 201 || status == 409) << status << " " << body;
      if (status != 201) continue;
      ++booked_[kind];
      std::string id = doc["id"].GetString();
      if (kind == 3) to_cancel.push_back(id);
      if (kind == 4) to_confirm.push_back(id);
    }
    for (const std::string& id : to_cancel) {
      rapidjson::Document doc;
      EXPECT_EQ(Send(bhttp::verb::post, "/v1/bookings/" + id + "/cancel", "", &doc), 200);
    }
    for (const std::string& id : to_confirm) {
      rapidjson::Document doc;
      EXPECT_EQ(Send(bhttp::verb::post, "/v1/bookings/" + id + "/confirm", "", &doc), 200);
    }
    clock_.Advance(3600);
    return w;
  }

  FakeClock clock_;
  // Bookings made per kind: confirmed, long hold, short hold, cancelled, confirmed hold.
  int booked_[5] = {};
  std::filesystem::path dir_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<pool::CpuPool> pool_;
  std::unique_ptr<Api> api_;
};

TEST_F(SearchPropertyTest, SearchEqualsSlotsPerResource) {
  std::size_t slots_seen = 0;
  std::size_t truncated_seen = 0;
  std::size_t empty_seen = 0;

  for (int case_no = 0; case_no < kCases; ++case_no) {
    Generator g(static_cast<std::uint32_t>(1000 + case_no));
    World w = MakeWorld(g, case_no);
    if (HasFailure()) return;

    for (int q = 0; q < kQueriesPerCase; ++q) {
      domain::Instant from = w.center + g.Int(-2 * kDay, kDay) / 60 * 60 + (g.Chance(0.2) ? 7 : 0);
      domain::Instant to =
          from + (g.Chance(0.25) ? g.Int(2 * kDay + 1, 5 * kDay) : g.Int(600, 2 * kDay));
      std::int64_t step = kSteps[g.Int(0, std::size(kSteps) - 1)];
      std::int64_t duration = g.Chance(0.5) ? step * g.Int(1, 3) : g.Int(1, 4 * 60) * 60;
      std::int64_t quantity = g.Int(1, 5);
      std::int64_t limit = g.Chance(0.5) ? g.Int(1, 5) : g.Int(6, 2000);
      bool default_step = step == duration && g.Chance(0.5);

      std::vector<std::string> ids = w.ids;
      std::shuffle(ids.begin(), ids.end(), g.rng());
      ids.resize(static_cast<std::size_t>(g.Int(1, static_cast<std::int64_t>(ids.size()))));

      std::string body = "{\"resource_ids\":[";
      for (std::size_t i = 0; i < ids.size(); ++i) body += (i ? "," : "") + Quote(ids[i]);
      body += "],\"from\":" + At(from) + ",\"to\":" + At(to) +
              ",\"duration\":" + std::to_string(duration) +
              (default_step ? "" : ",\"step\":" + std::to_string(step)) +
              ",\"quantity\":" + std::to_string(quantity) +
              ",\"limit_per_resource\":" + std::to_string(limit) + "}";
      SCOPED_TRACE("case " + std::to_string(case_no) + " query " + std::to_string(q) + ": " + body);

      rapidjson::Document search;
      ASSERT_EQ(Send(bhttp::verb::post, "/v1/availability/search", body, &search), 200);
      ASSERT_TRUE(search.IsObject() && search.HasMember("results") && search["results"].IsArray());
      const auto& results = search["results"];
      ASSERT_EQ(results.Size(), ids.size());

      for (std::size_t i = 0; i < ids.size(); ++i) {
        std::string target =
            "/v1/resources/" + ids[i] + "/slots?from=" + domain::FormatInstant(from) +
            "&to=" + domain::FormatInstant(to) + "&duration=" + std::to_string(duration) +
            (default_step ? "" : "&step=" + std::to_string(step)) +
            "&quantity=" + std::to_string(quantity) + "&limit=" + std::to_string(limit);
        rapidjson::Document slots;
        ASSERT_EQ(Send(bhttp::verb::get, target, "", &slots), 200) << target;
        ASSERT_TRUE(slots.IsObject() && slots.HasMember("slots") && slots.HasMember("truncated"));

        const auto& result = results[static_cast<rapidjson::SizeType>(i)];
        ASSERT_TRUE(result.IsObject() && result.HasMember("resource_id"));
        EXPECT_STREQ(result["resource_id"].GetString(), ids[i].c_str());
        EXPECT_TRUE(result["slots"] == slots["slots"]) << "resource " << ids[i];
        EXPECT_TRUE(result["truncated"] == slots["truncated"]) << "resource " << ids[i];

        slots_seen += slots["slots"].Size();
        truncated_seen += slots["truncated"].GetBool();
        empty_seen += slots["slots"].Empty();
      }
      if (HasFailure()) return;
    }
  }
  // The worlds must exercise the property: answers with slots, truncated ones and empty ones.
  EXPECT_GT(slots_seen, 1000u);
  EXPECT_GT(truncated_seen, 10u);
  EXPECT_GT(empty_seen, 5u);
  for (int kind = 0; kind < 5; ++kind) EXPECT_GT(booked_[kind], 10) << "booking kind " << kind;
}

}  // namespace
}  // namespace bookd::api
