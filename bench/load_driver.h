// The closed-loop load driver: N kept-alive HTTP/1.1 connections, each with exactly one request
// in flight, spread over 1 or 2 threads that each run their own io_context. Nothing is shared
// between threads while the load runs: every thread owns its connections, its random generator
// and its statistics, which are merged once all threads have stopped.
//
// A request counts toward the measured rates and latencies when its answer arrives inside
// [warmup end, warmup end + duration). Every answer, including those of the warmup and the
// tail after the window, is remembered for the verification of bookings.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "booking_check.h"
#include "latency_histogram.h"

namespace bookd::bench {

// What one request books, so that its 201 can be checked against the listing later.
struct PendingBooking {
  int resource = -1;  // Index into Workload::resource_ids; -1 for non-booking requests.
  std::int64_t start_s = 0;
  std::int64_t end_s = 0;
};

// Builds the bytes of every request. Headers are rendered once; a booking request only formats
// its small JSON body and the Content-Length.
class Workload {
 public:
  enum class Kind { kStatic, kUniform, kFlash };

  static Workload Static(const std::string& host, const std::string& path);
  // Bookings of one random hour of 2027 on a random resource.
  static Workload Uniform(const std::string& host, const std::string& api_key,
                          std::vector<std::string> resource_ids, std::int64_t quantity);
  // Bookings of one fixed interval on a random resource.
  static Workload Flash(const std::string& host, const std::string& api_key,
                        std::vector<std::string> resource_ids, std::int64_t quantity,
                        std::int64_t start_s, std::int64_t end_s);

  // Replaces *request with the next request's bytes.
  void Fill(std::mt19937_64& rng, std::string* request, PendingBooking* pending) const;

  Kind kind() const { return kind_; }
  const std::vector<std::string>& resource_ids() const { return resource_ids_; }
  std::int64_t quantity() const { return quantity_; }

 private:
  void FillBooking(int resource, std::int64_t start_s, std::int64_t end_s,
                   std::string* request) const;

  Kind kind_ = Kind::kStatic;
  std::string fixed_request_;  // kStatic: the whole request.
  std::string header_prefix_;  // Booking kinds: everything up to the Content-Length value.
  std::vector<std::string> resource_ids_;
  std::int64_t quantity_ = 1;
  std::int64_t flash_start_s_ = 0;
  std::int64_t flash_end_s_ = 0;
};

struct DriverConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  int connections = 128;
  int threads = 1;
  double warmup_s = 2.0;
  double duration_s = 10.0;
  double request_timeout_s = 10.0;
  std::uint64_t seed = 1;
};

struct LoadResult {
  LatencyHistogram latency;  // Answers inside the window.
  double window_s = 0;
  std::uint64_t answers_in_window = 0;
  std::uint64_t created_in_window = 0;  // 201
  std::uint64_t refused_in_window = 0;  // 409 unavailable
  std::uint64_t ok_in_window = 0;       // 200

  std::uint64_t answers_total = 0;
  std::uint64_t other_total = 0;       // Any other status, whole run.
  std::uint64_t transport_errors = 0;  // Connect, write or read failures and timeouts.
  std::uint64_t reconnects = 0;
  std::map<int, std::uint64_t> other_by_status;
  std::string other_sample;  // The first unexpected answer, abbreviated.
  std::string error_sample;

  std::vector<CreatedBooking> created;             // Every 201 of the run.
  std::vector<std::uint64_t> refused_by_resource;  // 409 unavailable, whole run.
  std::vector<std::uint64_t> created_by_resource;  // 201, whole run.
};

// Runs the load and returns when every connection has stopped.
LoadResult RunLoad(const DriverConfig& config, const Workload& workload);

}  // namespace bookd::bench
