// The per-key rate limit through Api::Handle: a key over its burst gets 429
// too_many_requests with Retry-After, other keys and public routes do not,
// and refusals are counted in /metrics.
#include <gtest/gtest.h>

#include <filesystem>
#include <future>
#include <string>

#include "api/api.h"
#include "common/crypto.h"
#include "common/metrics.h"
#include "storage/sqlite_store.h"

namespace bookd::api {
namespace {

namespace bhttp = boost::beast::http;

class FixedClock final : public domain::Clock {
 public:
  domain::Instant Now() const override { return 1798761600; }
};

class RateLimitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("bookd_rate_limit_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    storage::SqliteOptions options;
    options.path = (dir_ / "bookd.db").string();
    auto store = storage::OpenSqliteStore(options, clock_);
    ASSERT_TRUE(store.ok()) << store.error().detail;
    store_ = std::move(*store);
    pool_ = std::make_unique<pool::CpuPool>(1, 16);
    for (const char* secret : {"first-secret", "second-secret"}) {
      ASSERT_TRUE(
          store_->CreateKey(storage::kDefaultTenant, storage::Role::kAdmin, Sha256Hex(secret))
              .ok());
    }
  }

  void TearDown() override {
    api_.reset();
    pool_->Join();
    store_->Close();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void MakeApi(double rate_per_s, double burst) {
    ApiOptions options;
    options.rate_limit_per_s = rate_per_s;
    options.rate_burst = burst;
    api_ = std::make_unique<Api>(*store_, *pool_, clock_, options);
  }

  http::Response Get(const std::string& target, const std::string& secret) {
    http::Request req{bhttp::verb::get, target, 11};
    if (!secret.empty()) req.set(bhttp::field::authorization, "Bearer " + secret);
    std::promise<http::Response> promise;
    auto future = promise.get_future();
    api_->Handle(std::move(req), "req",
                 [&](http::Response res) { promise.set_value(std::move(res)); });
    EXPECT_EQ(future.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    return future.get();
  }

  static std::int64_t RateLimitedTotal() {
    const std::string text = metrics::Render();
    const std::string name = "\nbookd_rate_limited_total ";
    const auto at = text.find(name);
    return at == std::string::npos ? -1 : std::stoll(text.substr(at + name.size()));
  }

  std::filesystem::path dir_;
  FixedClock clock_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<pool::CpuPool> pool_;
  std::unique_ptr<Api> api_;
};

TEST_F(RateLimitTest, KeyOverItsBurstGets429WithRetryAfter) {
  MakeApi(/*rate_per_s=*/0.01, /*burst=*/3);  // a token every 100 s: none refills here
  const std::int64_t limited_before = RateLimitedTotal();
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Get("/v1/resources", "first-secret").result_int(), 200u);

  const http::Response refused = Get("/v1/resources", "first-secret");
  EXPECT_EQ(refused.result_int(), 429u);
  EXPECT_EQ(refused[bhttp::field::content_type], "application/problem+json");
  EXPECT_NE(refused.body().find("\"/problems/too_many_requests\""), std::string::npos)
      << refused.body();
  const int retry_after = std::stoi(std::string(refused[bhttp::field::retry_after]));
  EXPECT_GE(retry_after, 1);
  EXPECT_LE(retry_after, 100);
  EXPECT_EQ(RateLimitedTotal(), limited_before + 1);

  // Another key has its own bucket; public routes and bad keys are not limited.
  EXPECT_EQ(Get("/v1/resources", "second-secret").result_int(), 200u);
  EXPECT_EQ(Get("/healthz", "").result_int(), 200u);
  EXPECT_EQ(Get("/v1/resources", "no-such-secret").result_int(), 401u);
}

TEST_F(RateLimitTest, OffByDefault) {
  MakeApi(0, 0);
  for (int i = 0; i < 200; ++i) ASSERT_EQ(Get("/v1/resources", "first-secret").result_int(), 200u);
}

}  // namespace
}  // namespace bookd::api
