// Metric storage. Each labelled family is an open-addressing table of
// atomic pointers to series that are created once and never freed or moved:
//   1. A lookup reads the table without a lock; a slot, once published with a
//      release store, never changes, so a reader sees either null or a fully
//      built series.
//   2. Creating a series takes the family's mutex, probes again (another
//      thread may have won) and publishes into the first empty slot.
//   3. A family holds at most kSeriesMax series (a bound against label
//      explosion from, say, a route template bug); beyond it samples are
//      counted in one overflow series whose labels say so.
#include "common/metrics.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>
#include <deque>
#include <functional>
#include <mutex>
#include <string_view>
#include <tuple>
#include <vector>

namespace bookd::metrics {
namespace {

constexpr std::array<double, 13> kBucketBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                  0.1,    0.25,  0.5,    1.0,   2.5,  5.0};
constexpr std::string_view kOverflowLabel = "_overflow";

std::size_t HashCombine(std::size_t seed, std::size_t h) {
  return seed ^ (h + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2));
}

struct RequestKey {
  std::string_view method;
  std::string_view route;
  int status;
  std::size_t Hash() const {
    std::size_t h = std::hash<std::string_view>{}(method);
    h = HashCombine(h, std::hash<std::string_view>{}(route));
    return HashCombine(h, static_cast<std::size_t>(status));
  }
};

struct RequestSeries {
  RequestSeries(const RequestKey& k) : method(k.method), route(k.route), status(k.status) {}
  bool Matches(const RequestKey& k) const {
    return status == k.status && method == k.method && route == k.route;
  }
  static RequestKey Overflow() { return {kOverflowLabel, kOverflowLabel, 0}; }

  std::string method;
  std::string route;
  int status;
  std::atomic<std::uint64_t> count{0};
};

struct RouteKey {
  std::string_view route;
  std::size_t Hash() const { return std::hash<std::string_view>{}(route); }
};

struct LatencySeries {
  LatencySeries(const RouteKey& k) : route(k.route) {}
  bool Matches(const RouteKey& k) const { return route == k.route; }
  static RouteKey Overflow() { return {kOverflowLabel}; }

  void Observe(double latency_s) {
    std::size_t i = 0;
    while (i < kBucketBounds.size() && latency_s > kBucketBounds[i]) ++i;
    buckets[i].fetch_add(1, std::memory_order_relaxed);
    const double ns = latency_s > 0 ? latency_s * 1e9 : 0.0;
    sum_ns.fetch_add(static_cast<std::uint64_t>(ns), std::memory_order_relaxed);
  }

  std::string route;
  // Not cumulative; the last one is +Inf. Rendering accumulates.
  std::array<std::atomic<std::uint64_t>, kBucketBounds.size() + 1> buckets{};
  std::atomic<std::uint64_t> sum_ns{0};
};

template <class Series, class Key>
class Family {
 public:
  static constexpr std::size_t kSlots = 4096;
  static constexpr std::size_t kSeriesMax = kSlots / 2;

  Series& Get(const Key& key) {
    const std::size_t h = key.Hash();
    for (std::size_t probe = 0; probe < kSlots; ++probe) {
      Series* s = slots_[(h + probe) % kSlots].load(std::memory_order_acquire);
      if (s == nullptr) break;
      if (s->Matches(key)) return *s;
    }
    return Create(key);
  }

  // A consistent list of every series so far, for rendering.
  std::vector<const Series*> Snapshot() const {
    std::lock_guard lock(mu_);
    std::vector<const Series*> out;
    out.reserve(series_.size());
    for (const Series& s : series_) out.push_back(&s);
    return out;
  }

 private:
  Series& Create(const Key& key) {
    std::lock_guard lock(mu_);
    const bool full = series_.size() >= kSeriesMax;
    const Key& wanted = full ? overflow_key_ : key;
    const std::size_t h = wanted.Hash();
    for (std::size_t probe = 0; probe < kSlots; ++probe) {
      std::atomic<Series*>& slot = slots_[(h + probe) % kSlots];
      Series* s = slot.load(std::memory_order_relaxed);
      if (s != nullptr && s->Matches(wanted)) return *s;
      if (s == nullptr) {
        Series& created = series_.emplace_back(wanted);
        slot.store(&created, std::memory_order_release);
        return created;
      }
    }
    // kSeriesMax + 1 <= kSlots / 2 + 1 guarantees an empty slot.
    std::abort();
  }

  const Key overflow_key_ = Series::Overflow();
  std::array<std::atomic<Series*>, kSlots> slots_{};
  mutable std::mutex mu_;
  std::deque<Series> series_;  // a deque never moves its elements
};

struct Registry {
  Family<RequestSeries, RequestKey> requests;
  Family<LatencySeries, RouteKey> latency;
  std::atomic<std::uint64_t> bookings_created{0};
  std::atomic<std::uint64_t> bookings_conflicted{0};
  std::atomic<std::int64_t> open_connections{0};
  std::atomic<std::uint64_t> refused_per_address{0};
  std::atomic<std::uint64_t> refused_total{0};
  std::atomic<std::int64_t> connection_addresses{0};
  std::atomic<std::uint64_t> rate_limited{0};
  std::mutex collectors_mu;
  std::vector<Collector> collectors;
};

Registry& R() {
  static Registry* registry = new Registry();  // never destroyed: threads may outlive main
  return *registry;
}

void AppendLabelValue(std::string& out, std::string_view v) {
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

// Fixed notation ("0.0005", not the shorter "5e-04") reads better in `le`.
void AppendNumber(std::string& out, double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed);
  out.append(buf, ec == std::errc() ? end : buf);
}

void AppendNumber(std::string& out, std::uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, ec == std::errc() ? end : buf);
}

void AppendHeader(std::string& out, std::string_view name, std::string_view type,
                  std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void RenderRequests(std::string& out) {
  AppendHeader(out, "bookd_http_requests_total", "counter",
               "HTTP requests by method, route and status.");
  auto series = R().requests.Snapshot();
  std::sort(series.begin(), series.end(), [](const RequestSeries* a, const RequestSeries* b) {
    return std::tie(a->route, a->method, a->status) < std::tie(b->route, b->method, b->status);
  });
  for (const RequestSeries* s : series) {
    out.append("bookd_http_requests_total{method=\"");
    AppendLabelValue(out, s->method);
    out.append("\",route=\"");
    AppendLabelValue(out, s->route);
    out.append("\",status=\"");
    AppendNumber(out, static_cast<std::uint64_t>(s->status));
    out.append("\"} ");
    AppendNumber(out, s->count.load(std::memory_order_relaxed));
    out.append("\n");
  }
}

void RenderLatency(std::string& out) {
  constexpr std::string_view kName = "bookd_http_request_duration_seconds";
  AppendHeader(out, kName, "histogram", "HTTP request latency by route, in seconds.");
  auto series = R().latency.Snapshot();
  std::sort(series.begin(), series.end(),
            [](const LatencySeries* a, const LatencySeries* b) { return a->route < b->route; });
  for (const LatencySeries* s : series) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < s->buckets.size(); ++i) {
      cumulative += s->buckets[i].load(std::memory_order_relaxed);
      out.append(kName).append("_bucket{route=\"");
      AppendLabelValue(out, s->route);
      out.append("\",le=\"");
      if (i < kBucketBounds.size()) {
        AppendNumber(out, kBucketBounds[i]);
      } else {
        out.append("+Inf");
      }
      out.append("\"} ");
      AppendNumber(out, cumulative);
      out.append("\n");
    }
    out.append(kName).append("_sum{route=\"");
    AppendLabelValue(out, s->route);
    out.append("\"} ");
    AppendNumber(out, static_cast<double>(s->sum_ns.load(std::memory_order_relaxed)) / 1e9);
    out.append("\n");
    out.append(kName).append("_count{route=\"");
    AppendLabelValue(out, s->route);
    out.append("\"} ");
    AppendNumber(out, cumulative);
    out.append("\n");
  }
}

void RenderScalar(std::string& out, std::string_view name, std::string_view type,
                  std::string_view help, std::int64_t value) {
  AppendHeader(out, name, type, help);
  out.append(name).append(" ").append(std::to_string(value)).append("\n");
}

}  // namespace

void RecordRequest(const std::string& method, const std::string& route, int status,
                   double latency_s) {
  R().requests.Get(RequestKey{method, route, status}).count.fetch_add(1, std::memory_order_relaxed);
  R().latency.Get(RouteKey{route}).Observe(latency_s);
}

void AddBookingsCreated(std::uint64_t n) {
  R().bookings_created.fetch_add(n, std::memory_order_relaxed);
}

void AddBookingsConflicted(std::uint64_t n) {
  R().bookings_conflicted.fetch_add(n, std::memory_order_relaxed);
}

void SetOpenConnections(std::int64_t n) {
  R().open_connections.store(n, std::memory_order_relaxed);
}

std::int64_t OpenConnections() { return R().open_connections.load(std::memory_order_relaxed); }

void AddOpenConnections(std::int64_t delta) {
  R().open_connections.fetch_add(delta, std::memory_order_relaxed);
}

void AddConnectionRefused(Refusal reason) {
  auto& counter = reason == Refusal::kPerAddress ? R().refused_per_address : R().refused_total;
  counter.fetch_add(1, std::memory_order_relaxed);
}

void SetConnectionAddresses(std::int64_t n) {
  R().connection_addresses.store(n, std::memory_order_relaxed);
}

void AddRateLimited() { R().rate_limited.fetch_add(1, std::memory_order_relaxed); }

void AddCollector(Collector c) {
  std::lock_guard lock(R().collectors_mu);
  R().collectors.push_back(std::move(c));
}

std::string Render() {
  std::string out;
  out.reserve(16 << 10);
  RenderRequests(out);
  RenderLatency(out);
  RenderScalar(out, "bookd_bookings_created_total", "counter", "Bookings created.",
               static_cast<std::int64_t>(R().bookings_created.load(std::memory_order_relaxed)));
  RenderScalar(out, "bookd_bookings_conflicted_total", "counter",
               "Booking attempts refused for lack of capacity.",
               static_cast<std::int64_t>(R().bookings_conflicted.load(std::memory_order_relaxed)));
  RenderScalar(out, "bookd_open_connections", "gauge", "Open HTTP connections.",
               R().open_connections.load(std::memory_order_relaxed));
  AppendHeader(out, "bookd_connections_refused_total", "counter",
               "Connections closed at accept: over the per-address or the total cap.");
  out.append("bookd_connections_refused_total{reason=\"per_address\"} ");
  AppendNumber(out, R().refused_per_address.load(std::memory_order_relaxed));
  out.append("\nbookd_connections_refused_total{reason=\"total\"} ");
  AppendNumber(out, R().refused_total.load(std::memory_order_relaxed));
  out.append("\n");
  RenderScalar(out, "bookd_connection_addresses", "gauge",
               "Client addresses with at least one open connection.",
               R().connection_addresses.load(std::memory_order_relaxed));
  RenderScalar(out, "bookd_rate_limited_total", "counter",
               "Requests refused with 429 by the per-key rate limit.",
               static_cast<std::int64_t>(R().rate_limited.load(std::memory_order_relaxed)));

  // Copied so that a slow collector does not block AddCollector.
  std::vector<Collector> collectors;
  {
    std::lock_guard lock(R().collectors_mu);
    collectors = R().collectors;
  }
  for (const Collector& c : collectors) c(out);
  return out;
}

}  // namespace bookd::metrics
