// Handler-level tests of the HTTP contract: each builds a request, calls
// Api::Handle directly (no sockets) against a real SQLite store in a temp
// directory, and checks status, headers and the JSON body.
#include "api/api.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <set>
#include <string>
#include <vector>

#include "common/crypto.h"
#include "storage/sqlite_store.h"

namespace bookd::api {
namespace {

namespace bhttp = boost::beast::http;

constexpr domain::Instant kJan2027 = 1798761600;  // 2027-01-01T00:00:00Z

class FakeClock final : public domain::Clock {
 public:
  domain::Instant Now() const override { return now_.load(); }
  void Set(domain::Instant t) { now_.store(t); }

 private:
  std::atomic<domain::Instant> now_{kJan2027};
};

struct Reply {
  http::Response res;
  rapidjson::Document json;

  int status() const { return static_cast<int>(res.result_int()); }
  std::string header(const char* name) const {
    auto it = res.find(name);
    return it == res.end() ? "" : std::string(it->value());
  }
  std::string str(const char* member) const {
    auto it = json.FindMember(member);
    return it != json.MemberEnd() && it->value.IsString() ? it->value.GetString() : "";
  }
  // The pointers (or parameters) of a 422's errors.
  std::set<std::string> error_locations() const {
    std::set<std::string> out;
    auto it = json.FindMember("errors");
    if (it == json.MemberEnd()) return out;
    for (const auto& e : it->value.GetArray()) {
      if (e.HasMember("pointer")) out.insert(e["pointer"].GetString());
      if (e.HasMember("parameter")) out.insert(std::string("?") + e["parameter"].GetString());
    }
    return out;
  }
};

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("bookd_api_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    storage::SqliteOptions options;
    options.path = (dir_ / "bookd.db").string();
    auto store = storage::OpenSqliteStore(options, clock_);
    ASSERT_TRUE(store.ok()) << store.error().detail;
    store_ = std::move(*store);
    pool_ = std::make_unique<pool::CpuPool>(2, 64);
    ApiOptions api_options;
    api_options.inline_range_s_max = 7 * 86400;
    api_ = std::make_unique<Api>(*store_, *pool_, clock_, api_options);

    // A tenant other than the default one, so that nothing in the API can
    // silently fall back to "default".
    ASSERT_TRUE(store_->CreateTenant("t1", "t1").ok());
    admin_key_ = MakeKey("t1", storage::Role::kAdmin, "admin-secret");
    booking_key_ = MakeKey("t1", storage::Role::kBooking, "booking-secret");
  }

  void TearDown() override {
    api_.reset();
    pool_->Join();
    store_->Close();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string MakeKey(const std::string& tenant, storage::Role role, const std::string& secret) {
    auto key = store_->CreateKey(tenant, role, Sha256Hex(secret));
    EXPECT_TRUE(key.ok());
    return key.ok() ? key->id : "";
  }

  Reply Send(bhttp::verb method, const std::string& target, const std::string& body = "",
             std::vector<std::pair<std::string, std::string>> headers = {},
             const std::string& secret = "admin-secret") {
    http::Request req{method, target, 11};
    if (!secret.empty()) req.set(bhttp::field::authorization, "Bearer " + secret);
    if (!body.empty()) req.set(bhttp::field::content_type, "application/json");
    for (auto& [name, value] : headers) {
      if (value.empty()) {
        req.erase(name);
      } else {
        req.set(name, value);
      }
    }
    req.body() = body;
    req.prepare_payload();

    std::promise<http::Response> promise;
    auto future = promise.get_future();
    std::atomic<int> calls{0};
    api_->Handle(std::move(req), "req-1", [&](http::Response res) {
      ++calls;
      promise.set_value(std::move(res));
    });
    // A generous bound so a lost answer fails the test instead of hanging it.
    EXPECT_EQ(future.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    Reply reply;
    reply.res = future.get();
    EXPECT_EQ(calls.load(), 1);
    std::string ct = reply.header("Content-Type");
    if (ct.rfind("application/json", 0) == 0 || ct == "application/problem+json") {
      reply.json.Parse(reply.res.body().c_str());
      EXPECT_FALSE(reply.json.HasParseError()) << reply.res.body();
    }
    if (reply.status() >= 400) {
      EXPECT_EQ(ct, "application/problem+json") << reply.res.body();
      EXPECT_TRUE(reply.json.IsObject() && reply.json.HasMember("type") &&
                  reply.json.HasMember("status"))
          << reply.res.body();
      if (reply.json.IsObject() && reply.json.HasMember("status")) {
        EXPECT_EQ(reply.json["status"].GetInt(), reply.status());
      }
    }
    return reply;
  }

  Reply CreateRoom(const std::string& id, int capacity = 2, const std::string& extra = "") {
    std::string body = "{\"id\":\"" + id + "\",\"name\":\"Room " + id +
                       "\",\"capacity\":" + std::to_string(capacity) + extra + "}";
    return Send(bhttp::verb::post, "/v1/resources", body);
  }

  static std::string Item(const std::string& resource, const std::string& start,
                          const std::string& end, int quantity = 1) {
    return "{\"resource_id\":\"" + resource + "\",\"start\":\"" + start + "\",\"end\":\"" + end +
           "\",\"quantity\":" + std::to_string(quantity) + "}";
  }

  Reply Book(const std::string& items, const std::string& extra = "",
             std::vector<std::pair<std::string, std::string>> headers = {}) {
    return Send(bhttp::verb::post, "/v1/bookings", "{\"items\":[" + items + "]" + extra + "}",
                std::move(headers), "booking-secret");
  }

  FakeClock clock_;
  std::filesystem::path dir_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<pool::CpuPool> pool_;
  std::unique_ptr<Api> api_;
  std::string admin_key_;
  std::string booking_key_;
};

// ---- Routing and authentication ---------------------------------------------

TEST_F(ApiTest, UnknownPathIs404AndWrongMethodIs405WithAllow) {
  EXPECT_EQ(Send(bhttp::verb::get, "/v1/nothing").status(), 404);
  EXPECT_EQ(Send(bhttp::verb::get, "/v1/resources/").status(), 404);

  Reply r = Send(bhttp::verb::delete_, "/v1/bookings");
  EXPECT_EQ(r.status(), 405);
  EXPECT_EQ(r.header("Allow"), "GET, HEAD, POST");
  EXPECT_EQ(r.str("type"), "/problems/method_not_allowed");

  Reply confirm = Send(bhttp::verb::get, "/v1/bookings/abc/confirm");
  EXPECT_EQ(confirm.status(), 405);
  EXPECT_EQ(confirm.header("Allow"), "POST");
}

TEST_F(ApiTest, HeadIsAnsweredLikeGetWhereGetIs) {
  Reply get = Send(bhttp::verb::get, "/openapi.json", "", {}, "");
  Reply head = Send(bhttp::verb::head, "/openapi.json", "", {}, "");
  EXPECT_EQ(get.status(), 200);
  EXPECT_EQ(head.status(), 200);
  EXPECT_EQ(head.header("Content-Type"), get.header("Content-Type"));
  // Only a route without GET refuses HEAD.
  Reply cancel = Send(bhttp::verb::head, "/v1/bookings/abc/cancel");
  EXPECT_EQ(cancel.status(), 405);
  EXPECT_EQ(cancel.header("Allow"), "POST");
}

TEST_F(ApiTest, OperationalRoutesNeedNoKey) {
  Reply health = Send(bhttp::verb::get, "/healthz", "", {}, "");
  EXPECT_EQ(health.status(), 200);
  EXPECT_EQ(health.str("status"), "ok");
  EXPECT_EQ(Send(bhttp::verb::get, "/readyz", "", {}, "").status(), 200);

  Reply metrics = Send(bhttp::verb::get, "/metrics", "", {}, "");
  EXPECT_EQ(metrics.status(), 200);
  EXPECT_EQ(metrics.header("Content-Type").rfind("text/plain; version=0.0.4", 0), 0u);
  EXPECT_NE(metrics.res.body().find("bookd_commit_batch_size_bucket"), std::string::npos);
  EXPECT_NE(metrics.res.body().find("bookd_pool_queue_depth"), std::string::npos);

  Reply openapi = Send(bhttp::verb::get, "/openapi.json", "", {}, "");
  EXPECT_EQ(openapi.status(), 200);
  EXPECT_EQ(openapi.header("Content-Type"), "application/json");
  EXPECT_FALSE(openapi.res.body().empty());
}

TEST_F(ApiTest, MissingOrWrongKeyIs401WithChallenge) {
  Reply none = Send(bhttp::verb::get, "/v1/resources", "", {}, "");
  EXPECT_EQ(none.status(), 401);
  EXPECT_EQ(none.header("WWW-Authenticate").rfind("Bearer", 0), 0u);
  EXPECT_EQ(none.str("type"), "/problems/unauthorized");

  EXPECT_EQ(Send(bhttp::verb::get, "/v1/resources", "", {}, "wrong-secret").status(), 401);
  EXPECT_EQ(Send(bhttp::verb::get, "/v1/resources", "", {{"Authorization", "Basic YTpi"}}).status(),
            401);
}

TEST_F(ApiTest, RevokedKeyStopsWorkingAtTheNextRequest) {
  EXPECT_EQ(Send(bhttp::verb::get, "/v1/resources", "", {}, "booking-secret").status(), 200);
  ASSERT_TRUE(store_->RevokeKey(booking_key_).ok());
  EXPECT_EQ(Send(bhttp::verb::get, "/v1/resources", "", {}, "booking-secret").status(), 401);
}

TEST_F(ApiTest, BookingRoleMayReadButNotWriteResources) {
  ASSERT_EQ(CreateRoom("room-1").status(), 201);
  Reply create = Send(bhttp::verb::post, "/v1/resources", "{\"name\":\"x\"}", {}, "booking-secret");
  EXPECT_EQ(create.status(), 403);
  EXPECT_EQ(create.str("type"), "/problems/forbidden");
  EXPECT_EQ(Send(bhttp::verb::delete_, "/v1/resources/room-1", "", {}, "booking-secret").status(),
            403);
  EXPECT_EQ(Send(bhttp::verb::get, "/v1/resources/room-1", "", {}, "booking-secret").status(), 200);
}

TEST_F(ApiTest, TenantsDoNotSeeEachOther) {
  ASSERT_TRUE(store_->CreateTenant("t2", "t2").ok());
  MakeKey("t2", storage::Role::kAdmin, "other-tenant");
  ASSERT_EQ(CreateRoom("room-1").status(), 201);
  EXPECT_EQ(Send(bhttp::verb::get, "/v1/resources/room-1", "", {}, "other-tenant").status(), 404);
}

// ---- Body rules ---------------------------------------------------------------

TEST_F(ApiTest, BodyMustBeJson) {
  Reply r = Send(bhttp::verb::post, "/v1/resources", "name=x", {{"Content-Type", "text/plain"}});
  EXPECT_EQ(r.status(), 415);
  EXPECT_EQ(r.str("type"), "/problems/unsupported_media_type");

  Reply charset = Send(bhttp::verb::post, "/v1/resources", "{\"name\":\"x\"}",
                       {{"Content-Type", "application/json; charset=utf-8"}});
  EXPECT_EQ(charset.status(), 201);

  Reply empty =
      Send(bhttp::verb::post, "/v1/resources", "", {{"Content-Type", "application/json"}});
  EXPECT_EQ(empty.status(), 400);
}

TEST_F(ApiTest, HostileJsonIsA400ProblemEachTime) {
  const std::string deep = std::string(10000, '[') + std::string(10000, ']');
  const std::string deep_meta = "{\"name\":\"x\",\"metadata\":{\"a\":" + std::string(10000, '[') +
                                std::string(10000, ']') + "}}";
  const std::vector<std::string> bodies = {
      deep,
      deep_meta,
      "{\"name\":\"\xff\xfe\"}",          // invalid UTF-8
      "{\"name\":\"\xc0\xaf\"}",          // overlong encoding
      "{\"name\":\"a\",\"name\":\"b\"}",  // duplicate member
      "{\"name\":\"x\",\"capacity\":1e400}",
      "{\"name\":\"a\\u0000b\"}",
      std::string("{\"name\":\"a\0b\"}", 13),  // a raw NUL byte
      "{\"name\":\"x\"} trailing",
      "{\"name\":",
  };
  for (const std::string& body : bodies) {
    Reply r = Send(bhttp::verb::post, "/v1/resources", body);
    EXPECT_EQ(r.status(), 400) << body.substr(0, 40);
    EXPECT_EQ(r.str("type"), "/problems/bad_request") << body.substr(0, 40);
  }
  // A nested duplicate is found too.
  Reply nested = Send(bhttp::verb::post, "/v1/resources",
                      "{\"name\":\"x\",\"metadata\":{\"a\":[{\"k\":1,\"k\":2}]}}");
  EXPECT_EQ(nested.status(), 400);
  EXPECT_NE(std::string(nested.res.body()).find("duplicate member"), std::string::npos);
}

TEST_F(ApiTest, ResourceValidationReportsEveryError) {
  Reply r =
      Send(bhttp::verb::post, "/v1/resources",
           "{\"id\":\"-bad\",\"name\":\"\",\"capacity\":0,\"timezone\":\"Mars/Olympus\","
           "\"hours\":{\"mon\":[[\"10:00\",\"09:00\"]],\"xyz\":[]},"
           "\"closures\":[{\"start\":\"2027-01-02T00:00:00Z\",\"end\":\"2027-01-01T00:00:00Z\"}],"
           "\"metadata\":[],\"colour\":\"red\"}");
  EXPECT_EQ(r.status(), 422);
  EXPECT_EQ(r.str("type"), "/problems/validation");
  std::set<std::string> expected = {
      "/id",        "/name",           "/capacity", "/timezone", "/hours/mon/0/1",
      "/hours/xyz", "/closures/0/end", "/metadata", "/colour"};
  EXPECT_EQ(r.error_locations(), expected);
}

TEST_F(ApiTest, ResourceLimits) {
  EXPECT_EQ(Send(bhttp::verb::post, "/v1/resources", "{}").error_locations(),
            std::set<std::string>{"/name"});
  // 200 characters are fine even when they take more bytes; 201 are not.
  std::string name200;
  for (int i = 0; i < 200; ++i) name200 += "\xc3\xa9";  // é
  EXPECT_EQ(Send(bhttp::verb::post, "/v1/resources", "{\"name\":\"" + name200 + "\"}").status(),
            201);
  EXPECT_EQ(
      Send(bhttp::verb::post, "/v1/resources", "{\"name\":\"" + name200 + "e\"}").error_locations(),
      std::set<std::string>{"/name"});
  EXPECT_EQ(Send(bhttp::verb::post, "/v1/resources", "{\"name\":\"x\",\"capacity\":1000000001}")
                .error_locations(),
            std::set<std::string>{"/capacity"});
  std::string big_meta =
      "{\"name\":\"x\",\"metadata\":{\"a\":\"" + std::string(17000, 'z') + "\"}}";
  EXPECT_EQ(Send(bhttp::verb::post, "/v1/resources", big_meta).error_locations(),
            std::set<std::string>{"/metadata"});
  EXPECT_EQ(
      Send(bhttp::verb::post, "/v1/resources",
           "{\"name\":\"x\",\"hours\":{\"mon\":[[\"09:00\",\"12:00\"],[\"11:00\",\"13:00\"]]}}")
          .error_locations(),
      std::set<std::string>{"/hours/mon/1"});
}

TEST_F(ApiTest, BookingValidationPointsIntoItems) {
  ASSERT_EQ(CreateRoom("room-1").status(), 201);
  Reply r = Book(Item("room-1", "2027-03-01T10:00:00Z", "2027-03-01T09:00:00Z") + "," +
                     "{\"resource_id\":\"room-1\",\"start\":\"2027-03-01T09:00:00.5Z\","
                     "\"end\":\"2027-03-01\",\"quantity\":1.5}," +
                     "{\"resource_id\":\"room-1\",\"start\":\"2027-03-01T09:00:00Z\","
                     "\"end\":\"2027-03-01T10:00:00Z\",\"quantity\":-0}," +
                     "{\"start\":\"2027-03-01T09:00:00Z\",\"end\":\"2028-03-05T10:00:00Z\"}",
                 ",\"hold_seconds\":0,\"customer\":7,\"extra\":true");
  EXPECT_EQ(r.status(), 422);
  std::set<std::string> expected = {"/items/0/end",      "/items/1/start",
                                    "/items/1/end",      "/items/1/quantity",
                                    "/items/2/quantity", "/items/3/resource_id",
                                    "/items/3/end",      "/hold_seconds",
                                    "/customer",         "/extra"};
  EXPECT_EQ(r.error_locations(), expected) << r.res.body();

  EXPECT_EQ(Book("").error_locations(), std::set<std::string>{"/items"});
  // 1.0 is an integer; 1e400 is not a number we can read at all.
  EXPECT_EQ(Book("{\"resource_id\":\"room-1\",\"start\":\"2027-03-01T09:00:00Z\","
                 "\"end\":\"2027-03-01T10:00:00Z\",\"quantity\":1.0}")
                .status(),
            201);
}

// ---- Resources ----------------------------------------------------------------

TEST_F(ApiTest, ResourceLifecycleWithETags) {
  Reply created = CreateRoom("room-1", 3,
                             ",\"timezone\":\"Europe/Berlin\",\"hours\":{\"mon\":[[\"09:00\","
                             "\"17:00\"]]},\"metadata\":{\"floor\":1}");
  ASSERT_EQ(created.status(), 201) << created.res.body();
  EXPECT_EQ(created.header("Location"), "/v1/resources/room-1");
  EXPECT_EQ(created.header("ETag"), "\"1\"");
  EXPECT_EQ(created.str("timezone"), "Europe/Berlin");
  EXPECT_EQ(created.json["capacity"].GetInt(), 3);
  EXPECT_EQ(created.json["version"].GetInt(), 1);
  ASSERT_TRUE(created.json["hours"].IsObject());
  EXPECT_FALSE(created.json["hours"].HasMember("tue"));
  EXPECT_STREQ(created.json["hours"]["mon"][0][1].GetString(), "17:00");
  EXPECT_EQ(created.json["metadata"]["floor"].GetInt(), 1);
  EXPECT_TRUE(created.json["closures"].IsArray());

  EXPECT_EQ(CreateRoom("room-1").status(), 409);

  Reply got = Send(bhttp::verb::get, "/v1/resources/room-1");
  EXPECT_EQ(got.status(), 200);
  EXPECT_EQ(got.header("ETag"), "\"1\"");

  Reply no_match = Send(bhttp::verb::patch, "/v1/resources/room-1", "{\"capacity\":4}");
  EXPECT_EQ(no_match.status(), 428);
  EXPECT_EQ(no_match.str("type"), "/problems/precondition_required");

  Reply patched = Send(bhttp::verb::patch, "/v1/resources/room-1",
                       "{\"capacity\":4,\"hours\":null}", {{"If-Match", "\"1\""}});
  ASSERT_EQ(patched.status(), 200) << patched.res.body();
  EXPECT_EQ(patched.header("ETag"), "\"2\"");
  EXPECT_EQ(patched.json["capacity"].GetInt(), 4);
  EXPECT_TRUE(patched.json["hours"].IsNull());
  EXPECT_EQ(patched.str("name"), "Room room-1");

  Reply stale =
      Send(bhttp::verb::patch, "/v1/resources/room-1", "{\"capacity\":5}", {{"If-Match", "\"1\""}});
  EXPECT_EQ(stale.status(), 412);
  EXPECT_EQ(Send(bhttp::verb::patch, "/v1/resources/room-1", "{\"capacity\":5}",
                 {{"If-Match", "W/\"2\""}})
                .status(),
            412);
  EXPECT_EQ(
      Send(bhttp::verb::patch, "/v1/resources/room-1", "{\"capacity\":5}", {{"If-Match", "2"}})
          .status(),
      400);
  Reply any =
      Send(bhttp::verb::patch, "/v1/resources/room-1", "{\"capacity\":5}", {{"If-Match", "*"}});
  EXPECT_EQ(any.status(), 200);
  EXPECT_EQ(any.header("ETag"), "\"3\"");
  EXPECT_EQ(Send(bhttp::verb::patch, "/v1/resources/room-1", "{\"id\":\"other\"}",
                 {{"If-Match", "\"3\""}})
                .error_locations(),
            std::set<std::string>{"/id"});

  EXPECT_EQ(Send(bhttp::verb::delete_, "/v1/resources/room-1").status(), 204);
  EXPECT_EQ(Send(bhttp::verb::get, "/v1/resources/room-1").status(), 404);
}

TEST_F(ApiTest, ResourceIdsInPathArePercentDecoded) {
  ASSERT_EQ(CreateRoom("room.1").status(), 201);
  EXPECT_EQ(Send(bhttp::verb::get, "/v1/resources/room%2E1").status(), 200);
  EXPECT_EQ(Send(bhttp::verb::get, "/v1/resources/room%2F1").status(), 404);
  EXPECT_EQ(Send(bhttp::verb::get, "/v1/resources/room%zz").status(), 400);
}

TEST_F(ApiTest, ResourceListingPagesInIdOrder) {
  for (const char* id : {"c", "a", "e", "b", "d"}) ASSERT_EQ(CreateRoom(id).status(), 201);
  std::vector<std::string> seen;
  std::string cursor;
  for (int page = 0; page < 10; ++page) {
    std::string target = "/v1/resources?limit=2" + (cursor.empty() ? "" : "&cursor=" + cursor);
    Reply r = Send(bhttp::verb::get, target);
    ASSERT_EQ(r.status(), 200);
    for (const auto& item : r.json["data"].GetArray()) seen.push_back(item["id"].GetString());
    if (r.json["next_cursor"].IsNull()) break;
    cursor = r.json["next_cursor"].GetString();
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(Send(bhttp::verb::get, "/v1/resources?limit=0").error_locations(),
            std::set<std::string>{"?limit"});
  EXPECT_EQ(Send(bhttp::verb::get, "/v1/resources?limit=1001").error_locations(),
            std::set<std::string>{"?limit"});
  EXPECT_EQ(Send(bhttp::verb::get, "/v1/resources?cursor=zz").error_locations(),
            std::set<std::string>{"?cursor"});
}

// ---- Bookings -------------------------------------------------------------------

TEST_F(ApiTest, BookingCreateGetAndNotModified) {
  ASSERT_EQ(CreateRoom("room-1", 2).status(), 201);
  Reply b = Book(Item("room-1", "2027-03-01T10:00:00+01:00", "2027-03-01T10:00:00Z"),
                 ",\"customer\":\"alice\",\"hold_seconds\":600,\"metadata\":{\"n\":1}");
  ASSERT_EQ(b.status(), 201) << b.res.body();
  std::string id = b.str("id");
  EXPECT_EQ(b.header("Location"), "/v1/bookings/" + id);
  EXPECT_EQ(b.header("ETag"), "\"1\"");
  EXPECT_EQ(b.str("status"), "held");
  EXPECT_EQ(b.str("customer"), "alice");
  EXPECT_EQ(b.str("expires_at"), "2027-01-01T00:10:00Z");
  EXPECT_STREQ(b.json["items"][0]["start"].GetString(), "2027-03-01T09:00:00Z");
  EXPECT_EQ(b.json["items"][0]["quantity"].GetInt(), 1);
  EXPECT_EQ(b.json["metadata"]["n"].GetInt(), 1);

  Reply got = Send(bhttp::verb::get, "/v1/bookings/" + id, "", {}, "booking-secret");
  EXPECT_EQ(got.status(), 200);
  EXPECT_EQ(got.res.body(), b.res.body());

  Reply cached = Send(bhttp::verb::get, "/v1/bookings/" + id, "", {{"If-None-Match", "\"1\""}},
                      "booking-secret");
  EXPECT_EQ(cached.status(), 304);
  EXPECT_EQ(cached.header("ETag"), "\"1\"");
  EXPECT_TRUE(cached.res.body().empty());
  EXPECT_EQ(Send(bhttp::verb::get, "/v1/bookings/" + id, "", {{"If-None-Match", "\"7\""}}).status(),
            200);

  // Past expires_at the hold reads as expired and loses expires_at.
  clock_.Set(kJan2027 + 600);
  Reply expired = Send(bhttp::verb::get, "/v1/bookings/" + id);
  EXPECT_EQ(expired.str("status"), "expired");
  EXPECT_FALSE(expired.json.HasMember("expires_at"));

  Reply plain = Book(Item("room-1", "2027-03-02T09:00:00Z", "2027-03-02T10:00:00Z"));
  ASSERT_EQ(plain.status(), 201);
  EXPECT_TRUE(plain.json["customer"].IsNull());
  EXPECT_EQ(Send(bhttp::verb::get, "/v1/bookings/nope").status(), 404);
}

TEST_F(ApiTest, CapacityConflictIs409WithConflicts) {
  ASSERT_EQ(CreateRoom("room-1", 1).status(), 201);
  ASSERT_EQ(Book(Item("room-1", "2027-03-01T09:00:00Z", "2027-03-01T10:00:00Z")).status(), 201);
  // Touching intervals do not overlap.
  EXPECT_EQ(Book(Item("room-1", "2027-03-01T10:00:00Z", "2027-03-01T11:00:00Z")).status(), 201);
  Reply conflict = Book(Item("room-1", "2027-03-01T09:30:00Z", "2027-03-01T10:30:00Z"));
  EXPECT_EQ(conflict.status(), 409);
  EXPECT_EQ(conflict.str("type"), "/problems/unavailable");
  ASSERT_TRUE(conflict.json.HasMember("conflicts")) << conflict.res.body();
  EXPECT_STREQ(conflict.json["conflicts"][0]["reason"].GetString(), "capacity");

  Reply unknown = Book(Item("ghost", "2027-03-01T09:00:00Z", "2027-03-01T10:00:00Z"));
  EXPECT_EQ(unknown.status(), 422);
  EXPECT_EQ(unknown.error_locations(), std::set<std::string>{"/items/0/resource_id"});
}

TEST_F(ApiTest, ListingPagesWithoutRepeatOrSkipWhileBookingsAreAdded) {
  ASSERT_EQ(CreateRoom("room-1", 1000).status(), 201);
  auto book_one = [&](int i) {
    std::string day = "2027-03-" + std::string(i < 9 ? "0" : "") + std::to_string(i % 28 + 1);
    Reply r = Book(Item("room-1", day + "T09:00:00Z", day + "T10:00:00Z"));
    EXPECT_EQ(r.status(), 201);
    return r.str("id");
  };
  std::vector<std::string> older;
  for (int i = 0; i < 7; ++i) older.push_back(book_one(i));

  std::vector<std::string> seen;
  std::string cursor;
  for (int page = 0; page < 50; ++page) {
    std::string target = "/v1/bookings?limit=3" + (cursor.empty() ? "" : "&cursor=" + cursor);
    Reply r = Send(bhttp::verb::get, target, "", {}, "booking-secret");
    ASSERT_EQ(r.status(), 200);
    for (const auto& b : r.json["data"].GetArray()) seen.push_back(b["id"].GetString());
    book_one(10 + page);  // a booking arrives between pages
    if (r.json["next_cursor"].IsNull() || page >= 4) break;
    cursor = r.json["next_cursor"].GetString();
  }
  std::set<std::string> unique(seen.begin(), seen.end());
  EXPECT_EQ(unique.size(), seen.size()) << "a booking was listed twice";
  for (const std::string& id : older) EXPECT_EQ(unique.count(id), 1u) << id << " was skipped";
}

TEST_F(ApiTest, ListingFilters) {
  ASSERT_EQ(CreateRoom("room-1", 5).status(), 201);
  ASSERT_EQ(CreateRoom("room-2", 5).status(), 201);
  ASSERT_EQ(
      Book(Item("room-1", "2027-03-01T09:00:00Z", "2027-03-01T10:00:00Z"), ",\"customer\":\"a b\"")
          .status(),
      201);
  ASSERT_EQ(
      Book(Item("room-2", "2027-03-02T09:00:00Z", "2027-03-02T10:00:00Z"), ",\"hold_seconds\":60")
          .status(),
      201);

  auto count = [&](const std::string& query) {
    Reply r = Send(bhttp::verb::get, "/v1/bookings?" + query);
    EXPECT_EQ(r.status(), 200) << query << " " << r.res.body();
    return r.json.IsObject() ? r.json["data"].Size() : 0u;
  };
  EXPECT_EQ(count("resource_id=room-2"), 1u);
  EXPECT_EQ(count("customer=a+b"), 1u);
  EXPECT_EQ(count("customer=a%20b"), 1u);
  EXPECT_EQ(count("status=held"), 1u);
  EXPECT_EQ(count("from=2027-03-01T09:30:00Z&to=2027-03-01T12:00:00Z"), 1u);
  EXPECT_EQ(count("from=2027-03-01T10:00:00Z&to=2027-03-02T09:00:00Z"), 0u);

  EXPECT_EQ(Send(bhttp::verb::get, "/v1/bookings?status=lost&limit=x&bogus=1&from=yesterday")
                .error_locations(),
            (std::set<std::string>{"?status", "?limit", "?bogus", "?from"}));
  EXPECT_EQ(Send(bhttp::verb::get, "/v1/bookings?limit=1&limit=2").status(), 422);
}

TEST_F(ApiTest, ConfirmCancelAndPatch) {
  ASSERT_EQ(CreateRoom("room-1", 1).status(), 201);
  Reply held =
      Book(Item("room-1", "2027-03-01T09:00:00Z", "2027-03-01T10:00:00Z"), ",\"hold_seconds\":600");
  ASSERT_EQ(held.status(), 201);
  std::string id = held.str("id");
  std::string base = "/v1/bookings/" + id;

  EXPECT_EQ(Send(bhttp::verb::post, base + "/confirm", "", {{"If-Match", "\"9\""}}).status(), 412);
  Reply confirmed = Send(bhttp::verb::post, base + "/confirm");
  ASSERT_EQ(confirmed.status(), 200) << confirmed.res.body();
  EXPECT_EQ(confirmed.str("status"), "confirmed");
  EXPECT_FALSE(confirmed.json.HasMember("expires_at"));
  std::string etag = confirmed.header("ETag");
  // Confirming again returns it unchanged.
  Reply again = Send(bhttp::verb::post, base + "/confirm");
  EXPECT_EQ(again.status(), 200);
  EXPECT_EQ(again.header("ETag"), etag);

  EXPECT_EQ(Send(bhttp::verb::patch, base, "{\"customer\":\"bob\"}").status(), 428);
  Reply patched = Send(bhttp::verb::patch, base,
                       "{\"customer\":\"bob\",\"items\":[" +
                           Item("room-1", "2027-03-01T09:30:00Z", "2027-03-01T10:30:00Z") + "]}",
                       {{"If-Match", etag}});
  ASSERT_EQ(patched.status(), 200) << patched.res.body();
  EXPECT_EQ(patched.str("customer"), "bob");
  EXPECT_STREQ(patched.json["items"][0]["start"].GetString(), "2027-03-01T09:30:00Z");
  EXPECT_NE(patched.header("ETag"), etag);
  EXPECT_EQ(Send(bhttp::verb::patch, base, "{\"customer\":null}", {{"If-Match", etag}}).status(),
            412);
  Reply cleared =
      Send(bhttp::verb::patch, base, "{\"customer\":null}", {{"If-Match", patched.header("ETag")}});
  EXPECT_EQ(cleared.status(), 200);
  EXPECT_TRUE(cleared.json["customer"].IsNull());

  Reply cancelled = Send(bhttp::verb::post, base + "/cancel");
  EXPECT_EQ(cancelled.status(), 200);
  EXPECT_EQ(cancelled.str("status"), "cancelled");
  EXPECT_EQ(Send(bhttp::verb::post, base + "/cancel").status(), 200);
  Reply reconfirm = Send(bhttp::verb::post, base + "/confirm");
  EXPECT_EQ(reconfirm.status(), 409);
  EXPECT_EQ(reconfirm.str("type"), "/problems/invalid_transition");

  Reply hold2 =
      Book(Item("room-1", "2027-04-01T09:00:00Z", "2027-04-01T10:00:00Z"), ",\"hold_seconds\":60");
  ASSERT_EQ(hold2.status(), 201);
  clock_.Set(kJan2027 + 61);
  Reply late = Send(bhttp::verb::post, "/v1/bookings/" + hold2.str("id") + "/confirm");
  EXPECT_EQ(late.status(), 409);
  EXPECT_EQ(late.str("type"), "/problems/hold_expired");
}

TEST_F(ApiTest, IdempotencyReplaysTheFirstAnswer) {
  ASSERT_EQ(CreateRoom("room-1", 5).status(), 201);
  std::string items = Item("room-1", "2027-03-01T09:00:00Z", "2027-03-01T10:00:00Z");
  Reply first = Book(items, "", {{"Idempotency-Key", "key-1"}});
  ASSERT_EQ(first.status(), 201);
  EXPECT_EQ(first.header("Idempotent-Replayed"), "");

  Reply second = Book(items, "", {{"Idempotency-Key", "key-1"}});
  EXPECT_EQ(second.status(), 201);
  EXPECT_EQ(second.header("Idempotent-Replayed"), "true");
  EXPECT_EQ(second.res.body(), first.res.body());
  EXPECT_EQ(second.header("Location"), first.header("Location"));

  Reply list = Send(bhttp::verb::get, "/v1/bookings");
  EXPECT_EQ(list.json["data"].Size(), 1u) << "a replay must not book again";

  Reply other = Book(items, ",\"customer\":\"x\"", {{"Idempotency-Key", "key-1"}});
  EXPECT_EQ(other.status(), 422);
  EXPECT_EQ(other.str("type"), "/problems/idempotency_key_reused");

  EXPECT_EQ(Book(items, "", {{"Idempotency-Key", std::string(256, 'k')}}).status(), 422);
  EXPECT_EQ(Book(items, "", {{"Idempotency-Key", "tab\there"}}).status(), 422);
}

// ---- Availability ------------------------------------------------------------------

TEST_F(ApiTest, AvailabilityShape) {
  ASSERT_EQ(CreateRoom("room-1", 2).status(), 201);
  ASSERT_EQ(Book(Item("room-1", "2027-03-01T10:00:00Z", "2027-03-01T11:00:00Z")).status(), 201);
  Reply r =
      Send(bhttp::verb::get,
           "/v1/resources/room-1/availability?from=2027-03-01T09:00:00Z&to=2027-03-01T12:00:00Z",
           "", {}, "booking-secret");
  ASSERT_EQ(r.status(), 200) << r.res.body();
  EXPECT_EQ(r.str("resource_id"), "room-1");
  EXPECT_EQ(r.str("from"), "2027-03-01T09:00:00Z");
  EXPECT_EQ(r.str("to"), "2027-03-01T12:00:00Z");
  const auto& intervals = r.json["intervals"];
  ASSERT_EQ(intervals.Size(), 3u) << r.res.body();
  EXPECT_STREQ(intervals[1]["start"].GetString(), "2027-03-01T10:00:00Z");
  EXPECT_STREQ(intervals[1]["end"].GetString(), "2027-03-01T11:00:00Z");
  EXPECT_EQ(intervals[1]["available"].GetInt(), 1);
  EXPECT_EQ(intervals[0]["available"].GetInt(), 2);

  // A long range runs on the pool and answers the same shape.
  Reply year =
      Send(bhttp::verb::get,
           "/v1/resources/room-1/availability?from=2027-01-01T00:00:00Z&to=2027-12-31T00:00:00Z");
  EXPECT_EQ(year.status(), 200);
  EXPECT_EQ(year.json["intervals"].Size(), 3u);

  EXPECT_EQ(Send(bhttp::verb::get, "/v1/resources/room-1/availability?from=2027-03-01T09:00:00Z")
                .error_locations(),
            std::set<std::string>{"?to"});
  EXPECT_EQ(
      Send(bhttp::verb::get,
           "/v1/resources/room-1/availability?from=2027-01-01T00:00:00Z&to=2028-01-03T00:00:00Z")
          .error_locations(),
      std::set<std::string>{"?to"});
  EXPECT_EQ(
      Send(bhttp::verb::get,
           "/v1/resources/ghost/availability?from=2027-01-01T00:00:00Z&to=2027-01-02T00:00:00Z")
          .status(),
      404);
}

TEST_F(ApiTest, SlotsShape) {
  ASSERT_EQ(CreateRoom("room-1", 1, ",\"hours\":{\"mon\":[[\"09:00\",\"11:00\"]]}").status(), 201);
  // 2027-03-01 is a Monday.
  Reply r = Send(bhttp::verb::get,
                 "/v1/resources/room-1/slots?from=2027-03-01T00:00:00Z&to=2027-03-02T00:00:00Z"
                 "&duration=3600&step=1800");
  ASSERT_EQ(r.status(), 200) << r.res.body();
  EXPECT_EQ(r.str("resource_id"), "room-1");
  ASSERT_EQ(r.json["slots"].Size(), 3u) << r.res.body();
  EXPECT_STREQ(r.json["slots"][0]["start"].GetString(), "2027-03-01T09:00:00Z");
  EXPECT_STREQ(r.json["slots"][2]["end"].GetString(), "2027-03-01T11:00:00Z");
  EXPECT_FALSE(r.json["truncated"].GetBool());

  Reply limited =
      Send(bhttp::verb::get,
           "/v1/resources/room-1/slots?from=2027-03-01T00:00:00Z&to=2027-03-02T00:00:00Z"
           "&duration=3600&step=1800&limit=1");
  EXPECT_EQ(limited.json["slots"].Size(), 1u);
  EXPECT_TRUE(limited.json["truncated"].GetBool());

  EXPECT_EQ(Send(bhttp::verb::get,
                 "/v1/resources/room-1/slots?from=2027-03-01T00:00:00Z&to=2027-03-02T00:00:00Z")
                .error_locations(),
            std::set<std::string>{"?duration"});
  EXPECT_EQ(Send(bhttp::verb::get,
                 "/v1/resources/room-1/slots?from=2027-03-01T00:00:00Z&to=2027-03-02T00:00:00Z"
                 "&duration=3600&step=7000&limit=10001")
                .error_locations(),
            (std::set<std::string>{"?step", "?limit"}));
}

TEST_F(ApiTest, SearchRunsOnThePoolInResourceOrder) {
  for (int i = 0; i < 40; ++i) {
    ASSERT_EQ(CreateRoom("r" + std::to_string(100 + i), 1).status(), 201);
  }
  ASSERT_EQ(Book(Item("r105", "2027-03-01T09:00:00Z", "2027-03-01T10:00:00Z")).status(), 201);
  std::string body =
      "{\"from\":\"2027-03-01T09:00:00Z\",\"to\":\"2027-03-01T11:00:00Z\",\"duration\":3600,"
      "\"limit_per_resource\":5}";
  Reply all = Send(bhttp::verb::post, "/v1/availability/search", body, {}, "booking-secret");
  ASSERT_EQ(all.status(), 200) << all.res.body();
  const auto& results = all.json["results"];
  ASSERT_EQ(results.Size(), 40u);
  EXPECT_STREQ(results[0]["resource_id"].GetString(), "r100");
  EXPECT_STREQ(results[39]["resource_id"].GetString(), "r139");
  EXPECT_EQ(results[0]["slots"].Size(), 2u);
  EXPECT_EQ(results[5]["slots"].Size(), 1u);
  EXPECT_FALSE(results[0]["truncated"].GetBool());

  Reply named = Send(bhttp::verb::post, "/v1/availability/search",
                     "{\"resource_ids\":[\"r107\",\"r101\"],\"from\":\"2027-03-01T09:00:00Z\","
                     "\"to\":\"2027-03-01T11:00:00Z\",\"duration\":3600}");
  ASSERT_EQ(named.status(), 200);
  EXPECT_STREQ(named.json["results"][0]["resource_id"].GetString(), "r107");
  EXPECT_STREQ(named.json["results"][1]["resource_id"].GetString(), "r101");

  Reply missing = Send(bhttp::verb::post, "/v1/availability/search",
                       "{\"resource_ids\":[\"r107\",\"ghost\"],\"from\":\"2027-03-01T09:00:00Z\","
                       "\"to\":\"2027-03-01T11:00:00Z\",\"duration\":3600}");
  EXPECT_EQ(missing.status(), 422);
  EXPECT_EQ(missing.error_locations(), std::set<std::string>{"/resource_ids/1"});

  EXPECT_EQ(
      Send(bhttp::verb::post, "/v1/availability/search", "{\"duration\":7000}").error_locations(),
      (std::set<std::string>{"/from", "/to", "/duration"}));
}

// ---- Failure paths -------------------------------------------------------------------

// A store whose every call throws, to prove that no exception escapes Handle.
class ThrowingStore final : public storage::Store {
 public:
  void Submit(storage::Command) override { Throw(); }
  Result<domain::Resource> GetResource(const std::string&, const std::string&) override { Throw(); }
  Result<storage::Page<domain::Resource>> ListResources(const std::string&, const std::string&,
                                                        std::int64_t) override {
    Throw();
  }
  Result<std::vector<domain::Usage>> Usages(const std::string&, const std::string&,
                                            domain::Interval, domain::Instant) override {
    Throw();
  }
  Result<domain::Booking> GetBooking(const std::string&, const std::string&) override { Throw(); }
  Result<storage::Page<domain::Booking>> ListBookings(const std::string&,
                                                      const storage::BookingQuery&,
                                                      domain::Instant) override {
    Throw();
  }
  Result<storage::ApiKey> FindKey(const std::string&) override { Throw(); }
  Result<storage::ApiKey> CreateKey(const std::string&, storage::Role,
                                    const std::string&) override {
    Throw();
  }
  Result<std::vector<storage::ApiKey>> ListKeys() override { Throw(); }
  Status RevokeKey(const std::string&) override { Throw(); }
  bool Ready() override { Throw(); }
  storage::StoreStats Stats() override { return {}; }
  void Close() override {}

 private:
  [[noreturn]] static void Throw() { throw std::runtime_error("disk on fire"); }
};

TEST_F(ApiTest, ExceptionsBecome500Problems) {
  ThrowingStore broken;
  Api api(broken, *pool_, clock_, ApiOptions{});
  for (const char* target : {"/v1/resources", "/readyz"}) {
    http::Request req{bhttp::verb::get, target, 11};
    req.set(bhttp::field::authorization, "Bearer admin-secret");
    std::vector<http::Response> answers;
    api.Handle(std::move(req), "req-500", [&](http::Response res) { answers.push_back(res); });
    ASSERT_EQ(answers.size(), 1u) << target;
    EXPECT_EQ(answers[0].result_int(), 500u);
    EXPECT_EQ(answers[0][bhttp::field::content_type], "application/problem+json");
  }
}

TEST_F(ApiTest, FullPoolIs503WithRetryAfter) {
  pool::CpuPool full(1, 0);  // refuses every task
  api_ = std::make_unique<Api>(*store_, full, clock_, ApiOptions{});
  ASSERT_EQ(CreateRoom("room-1").status(), 201);
  // Short ranges stay inline and work; long ones and searches need the pool.
  EXPECT_EQ(
      Send(bhttp::verb::get,
           "/v1/resources/room-1/availability?from=2027-01-01T00:00:00Z&to=2027-01-02T00:00:00Z")
          .status(),
      200);
  Reply year =
      Send(bhttp::verb::get,
           "/v1/resources/room-1/availability?from=2027-01-01T00:00:00Z&to=2027-12-01T00:00:00Z");
  EXPECT_EQ(year.status(), 503);
  EXPECT_EQ(year.header("Retry-After"), "1");
  EXPECT_EQ(year.str("type"), "/problems/overloaded");
  Reply search = Send(bhttp::verb::post, "/v1/availability/search",
                      "{\"from\":\"2027-03-01T09:00:00Z\",\"to\":\"2027-03-01T11:00:00Z\","
                      "\"duration\":3600}");
  EXPECT_EQ(search.status(), 503);
  EXPECT_EQ(search.header("Retry-After"), "1");
  api_.reset();
}

TEST_F(ApiTest, MetricsCountRequestsByRouteTemplate) {
  ASSERT_EQ(CreateRoom("room-1").status(), 201);
  ASSERT_EQ(Send(bhttp::verb::get, "/v1/resources/room-1").status(), 200);
  Reply metrics = Send(bhttp::verb::get, "/metrics", "", {}, "");
  EXPECT_NE(metrics.res.body().find("/v1/resources/{id}"), std::string::npos);
  EXPECT_EQ(metrics.res.body().find("/v1/resources/room-1"), std::string::npos)
      << "route labels must be templates, not paths";
}

TEST_F(ApiTest, DeletingAResourceWithFutureBookingsIs409) {
  ASSERT_EQ(CreateRoom("room-1").status(), 201);
  ASSERT_EQ(Book(Item("room-1", "2027-03-01T09:00:00Z", "2027-03-01T10:00:00Z")).status(), 201);
  Reply r = Send(bhttp::verb::delete_, "/v1/resources/room-1");
  EXPECT_EQ(r.status(), 409);
  EXPECT_EQ(Send(bhttp::verb::get, "/v1/resources/room-1").status(), 200);
}

}  // namespace
}  // namespace bookd::api
