// Process-wide metrics in Prometheus text format. Counters and histograms are
// lock-free on the hot path (atomics); label sets are created on first use
// under a mutex.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

namespace bookd::metrics {

// Requests by route template ("/v1/bookings/{id}"), method and status.
void RecordRequest(const std::string& method, const std::string& route, int status,
                   double latency_s);
void AddBookingsCreated(std::uint64_t n);
void AddBookingsConflicted(std::uint64_t n);
void SetOpenConnections(std::int64_t n);
std::int64_t OpenConnections();
void AddOpenConnections(std::int64_t delta);

// Connections closed at accept, unread: over the per-address cap or over the
// process's total cap.
enum class Refusal { kPerAddress, kTotal };
void AddConnectionRefused(Refusal reason);
// Client addresses with at least one open connection.
void SetConnectionAddresses(std::int64_t n);
// Requests answered 429 by the per-key rate limit.
void AddRateLimited();

// Extra gauges and histograms from other layers (store batches, pool depth,
// worker restarts) are appended by a collector called at scrape time.
using Collector = std::function<void(std::string& out)>;
void AddCollector(Collector c);

// The whole exposition.
std::string Render();

}  // namespace bookd::metrics
