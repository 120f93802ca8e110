// Metrics: the exposition names every family with HELP and TYPE and shows
// what was recorded. The registry is process-wide, so tests use labels of
// their own and look for lines, never whole documents.
#include "common/metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace bookd::metrics {
namespace {

bool Contains(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

TEST(MetricsTest, RequestCounterAndHistogram) {
  RecordRequest("GET", "/test/a/{id}", 200, 0.0007);
  RecordRequest("GET", "/test/a/{id}", 200, 0.003);
  RecordRequest("POST", "/test/a/{id}", 409, 10.0);
  const std::string text = Render();

  EXPECT_TRUE(Contains(text, "# TYPE bookd_http_requests_total counter\n"));
  EXPECT_TRUE(Contains(text, "# HELP bookd_http_requests_total "));
  EXPECT_TRUE(Contains(
      text, "bookd_http_requests_total{method=\"GET\",route=\"/test/a/{id}\",status=\"200\"} 2\n"));
  EXPECT_TRUE(Contains(
      text,
      "bookd_http_requests_total{method=\"POST\",route=\"/test/a/{id}\",status=\"409\"} 1\n"));

  EXPECT_TRUE(Contains(text, "# TYPE bookd_http_request_duration_seconds histogram\n"));
  const std::string b = "bookd_http_request_duration_seconds_bucket{route=\"/test/a/{id}\",le=";
  EXPECT_TRUE(Contains(text, b + "\"0.0005\"} 0\n"));
  EXPECT_TRUE(Contains(text, b + "\"0.001\"} 1\n"));
  EXPECT_TRUE(Contains(text, b + "\"0.005\"} 2\n"));
  EXPECT_TRUE(Contains(text, b + "\"5\"} 2\n"));
  EXPECT_TRUE(Contains(text, b + "\"+Inf\"} 3\n"));
  EXPECT_TRUE(
      Contains(text, "bookd_http_request_duration_seconds_count{route=\"/test/a/{id}\"} 3\n"));
  EXPECT_TRUE(
      Contains(text, "bookd_http_request_duration_seconds_sum{route=\"/test/a/{id}\"} 10.0037\n"));
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  RecordRequest("GET", "/test/\"q\"\\", 404, 0.0);
  EXPECT_TRUE(Contains(Render(), "route=\"/test/\\\"q\\\"\\\\\",status=\"404\"} 1\n"));
}

TEST(MetricsTest, BookingCountersGaugeAndCollectors) {
  const std::string before = Render();
  AddBookingsCreated(3);
  AddBookingsConflicted(2);
  SetOpenConnections(5);
  AddOpenConnections(2);
  EXPECT_EQ(OpenConnections(), 7);
  AddCollector(
      [](std::string& out) { out += "# TYPE bookd_test_gauge gauge\nbookd_test_gauge 42\n"; });
  const std::string text = Render();

  EXPECT_TRUE(Contains(text, "# TYPE bookd_bookings_created_total counter\n"));
  EXPECT_TRUE(Contains(text, "bookd_bookings_created_total 3\n")) << text;
  EXPECT_TRUE(Contains(text, "bookd_bookings_conflicted_total 2\n"));
  EXPECT_TRUE(Contains(text, "# TYPE bookd_open_connections gauge\n"));
  EXPECT_TRUE(Contains(text, "bookd_open_connections 7\n"));
  EXPECT_TRUE(Contains(text, "bookd_test_gauge 42\n"));
  SetOpenConnections(0);
}

TEST(MetricsTest, ConcurrentRecordingLosesNothing) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < kPerThread; ++i) {
        RecordRequest("GET", "/test/concurrent/" + std::to_string(i % 7), 200 + t, 0.0001);
      }
    });
  }
  for (auto& th : threads) th.join();
  const std::string text = Render();
  for (int t = 0; t < kThreads; ++t) {
    for (int r = 0; r < 7; ++r) {
      const int expected = kPerThread / 7 + (r < kPerThread % 7 ? 1 : 0);
      EXPECT_TRUE(Contains(text, "route=\"/test/concurrent/" + std::to_string(r) + "\",status=\"" +
                                     std::to_string(200 + t) + "\"} " + std::to_string(expected) +
                                     "\n"));
    }
  }
}

TEST(MetricsTest, RefusalsAddressesAndRateLimits) {
  AddConnectionRefused(Refusal::kPerAddress);
  AddConnectionRefused(Refusal::kPerAddress);
  AddConnectionRefused(Refusal::kTotal);
  SetConnectionAddresses(4);
  AddRateLimited();
  const std::string text = Render();

  EXPECT_TRUE(Contains(text, "# TYPE bookd_connections_refused_total counter\n"));
  EXPECT_TRUE(Contains(text, "bookd_connections_refused_total{reason=\"per_address\"} 2\n"));
  EXPECT_TRUE(Contains(text, "bookd_connections_refused_total{reason=\"total\"} 1\n"));
  EXPECT_TRUE(Contains(text, "# TYPE bookd_connection_addresses gauge\n"));
  EXPECT_TRUE(Contains(text, "bookd_connection_addresses 4\n"));
  EXPECT_TRUE(Contains(text, "# TYPE bookd_rate_limited_total counter\n"));
  EXPECT_TRUE(Contains(text, "bookd_rate_limited_total 1\n"));
}

}  // namespace
}  // namespace bookd::metrics
