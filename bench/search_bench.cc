// bookd-search-bench: times POST /v1/availability/search end to end through api::Api::Handle
// (parsing, listing the tenant's resources, the pool's chunks, rendering) on a SQLite database of
// 10,000 resources with weekly opening hours and about 20 confirmed bookings each, with a CPU
// pool of 1 and then 2 threads. See BENCHMARKS.md, "Availability search".
//
// The data set is built through the storage API (CreateResource, then CreateBooking commands
// submitted with a bounded number in flight), on /dev/shm unless --db names a file. With --db
// and --build-only it only writes the database, for bench/pool_isolation.sh to serve.
//
// Rounds alternate the pool sizes (1, 2, 1, 2, ...) so that both see the same background load;
// medians over the rounds are reported, and the ratio of the medians.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "api/api.h"
#include "api/json_out.h"
#include "common/crypto.h"
#include "domain/availability.h"
#include "domain/time.h"
#include "storage/sqlite_store.h"

namespace bookd::bench {
namespace {

namespace bhttp = boost::beast::http;
using Clock = std::chrono::steady_clock;

constexpr domain::Instant kRangeStart = 1799020800;  // 2027-01-04T00:00:00Z, a Monday
constexpr std::int64_t kDay = 86400;
constexpr char kSecret[] = "search-bench-admin-secret";
constexpr std::size_t kInFlightMax = 20000;  // commands submitted and not yet done

// January 2027 has no clock change in these zones, so a fixed offset maps local hours to UTC.
struct Zone {
  const char* name;
  std::int64_t offset_s;
};
constexpr Zone kZones[] = {
    {"UTC", 0}, {"Europe/Berlin", 3600}, {"America/New_York", -5 * 3600}, {"Asia/Tokyo", 9 * 3600}};

// The clock stands before the range, so that every slot of the range is in the future.
class FixedClock final : public domain::Clock {
 public:
  domain::Instant Now() const override { return kRangeStart - 3 * kDay; }
};

struct Options {
  std::string db;  // empty: a temporary file on /dev/shm, removed at the end
  bool build_only = false;
  int resources = 10000;
  int bookings_per_resource = 20;
  int days = 30;
  int rounds = 5;
  std::vector<std::int64_t> limits = {10, 3000};
  std::vector<std::size_t> pool_threads = {1, 2};
};

[[noreturn]] void Usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--db PATH] [--build-only] [--resources N] [--bookings N] [--days N]\n"
               "          [--rounds N] [--limits 10,3000] [--pool-threads 1,2]\n"
               "Without --db the database lives in /dev/shm and is removed at exit; with --db an\n"
               "existing database is reused as it is.\n",
               argv0);
  std::exit(2);
}

template <class T>
std::vector<T> ParseList(const std::string& text) {
  std::vector<T> out;
  std::size_t at = 0;
  while (at <= text.size() && out.size() < 16) {
    std::size_t comma = text.find(',', at);
    if (comma == std::string::npos) comma = text.size();
    out.push_back(static_cast<T>(std::stoll(text.substr(at, comma - at))));
    at = comma + 1;
  }
  return out;
}

Options ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Usage(argv[0]);
      return argv[++i];
    };
    if (a == "--db") {
      o.db = value();
    } else if (a == "--build-only") {
      o.build_only = true;
    } else if (a == "--resources") {
      o.resources = std::stoi(value());
    } else if (a == "--bookings") {
      o.bookings_per_resource = std::stoi(value());
    } else if (a == "--days") {
      o.days = std::stoi(value());
    } else if (a == "--rounds") {
      o.rounds = std::stoi(value());
    } else if (a == "--limits") {
      o.limits = ParseList<std::int64_t>(value());
    } else if (a == "--pool-threads") {
      o.pool_threads = ParseList<std::size_t>(value());
    } else {
      Usage(argv[0]);
    }
  }
  if (o.resources < 1 || o.resources > 10000 || o.days < 1 || o.days > 366 || o.rounds < 1 ||
      o.rounds > 100 || o.bookings_per_resource < 0 || o.bookings_per_resource > 1000) {
    Usage(argv[0]);
  }
  return o;
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// CPU seconds of every thread of this process: the search's work whatever the machine's load.
double CpuSeconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double Median(std::vector<double> v) {
  assert(!v.empty());
  std::sort(v.begin(), v.end());
  std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Submits commands keeping at most kInFlightMax unanswered, and counts the outcomes.
class Submitter {
 public:
  explicit Submitter(storage::Store& store) : store_(store) {}

  void Submit(storage::Operation op) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return in_flight_ < kInFlightMax; });
      ++in_flight_;
    }
    storage::Command cmd;
    cmd.tenant = storage::kDefaultTenant;
    cmd.op = std::move(op);
    cmd.done = [this](storage::WriteOutcome out) {
      std::lock_guard lock(mu_);
      if (const Error* e = std::get_if<Error>(&out.value)) {
        ++failed_;
        if (first_error_.empty()) first_error_ = e->detail;
      } else {
        ++ok_;
      }
      --in_flight_;
      cv_.notify_all();
    };
    store_.Submit(std::move(cmd));
  }

  // Waits for every submitted command; returns {ok, failed} since the last call.
  std::pair<std::size_t, std::size_t> Drain() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return in_flight_ == 0; });
    auto counts = std::make_pair(ok_, failed_);
    ok_ = failed_ = 0;
    return counts;
  }

  std::string first_error() {
    std::lock_guard lock(mu_);
    return first_error_;
  }

 private:
  storage::Store& store_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t in_flight_ = 0;  // GUARDED_BY(mu_)
  std::size_t ok_ = 0;         // GUARDED_BY(mu_)
  std::size_t failed_ = 0;     // GUARDED_BY(mu_)
  std::string first_error_;    // GUARDED_BY(mu_)
};

std::string ResourceId(int i) {
  char id[16];
  std::snprintf(id, sizeof id, "r%05d", i);
  return id;
}

// Mon-Fri 08:00-20:00, Sat 09:00-14:00, Sun closed, local time. Bookings: 15-minute grid,
// 30 minutes to 2 hours, on weekdays inside the hours, quantity 1 on a capacity of 2, so that a
// few overlap and a few slots are full.
bool BuildDataSet(storage::Store& store, const Options& o) {
  auto t0 = Clock::now();
  Submitter submitter(store);
  domain::WeeklyHours hours;
  for (int d = 0; d < 5; ++d) hours.days[static_cast<std::size_t>(d)] = {{8 * 60, 20 * 60}};
  hours.days[5] = {{9 * 60, 14 * 60}};
  for (int i = 0; i < o.resources; ++i) {
    domain::Resource r;
    r.tenant = storage::kDefaultTenant;
    r.id = ResourceId(i);
    r.name = "room " + r.id;
    r.capacity = 2;
    r.timezone = kZones[static_cast<std::size_t>(i) % std::size(kZones)].name;
    r.hours = hours;
    submitter.Submit(storage::CreateResource{std::move(r)});
  }
  auto [resources_ok, resources_failed] = submitter.Drain();
  if (resources_failed != 0) {
    std::fprintf(stderr, "creating resources: %zu failed: %s\n", resources_failed,
                 submitter.first_error().c_str());
    return false;
  }
  auto t1 = Clock::now();

  std::mt19937_64 rng(42);
  auto pick = [&rng](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  for (int i = 0; i < o.resources; ++i) {
    const Zone& zone = kZones[static_cast<std::size_t>(i) % std::size(kZones)];
    for (int b = 0; b < o.bookings_per_resource; ++b) {
      std::int64_t day = pick(0, o.days - 1);
      if (day % 7 >= 5) day -= 2;  // onto the Friday before: kRangeStart is a Monday
      std::int64_t quarters = pick(2, 8);
      std::int64_t start_q = pick(8 * 4, 20 * 4 - quarters);
      domain::Instant start = kRangeStart + day * kDay + start_q * 900 - zone.offset_s;
      storage::CreateBooking booking;
      booking.items.push_back({ResourceId(i), start, start + quarters * 900, 1});
      submitter.Submit(std::move(booking));
    }
  }
  auto [bookings_ok, bookings_failed] = submitter.Drain();
  auto t2 = Clock::now();
  std::printf(
      "data set: %zu resources in %.1f s; %zu bookings in %.1f s (%.1f per resource), "
      "%zu refused (first: %s)\n",
      resources_ok, Seconds(t1 - t0), bookings_ok, Seconds(t2 - t1),
      static_cast<double>(bookings_ok) / o.resources, bookings_failed,
      bookings_failed ? submitter.first_error().c_str() : "-");
  return true;
}

struct Answer {
  int status = 0;
  std::size_t body_bytes = 0;
  std::size_t results = 0;
  std::size_t slots = 0;
  std::size_t truncated = 0;
};

// Counts results, slots and truncated flags without a DOM: the answer is our own JSON.
Answer Summarize(int status, const std::string& body) {
  Answer a{status, body.size(), 0, 0, 0};
  for (std::size_t at = 0; (at = body.find("\"resource_id\"", at)) != std::string::npos; ++at) {
    ++a.results;
  }
  for (std::size_t at = 0; (at = body.find("\"start\"", at)) != std::string::npos; ++at) ++a.slots;
  for (std::size_t at = 0; (at = body.find("\"truncated\":true", at)) != std::string::npos; ++at) {
    ++a.truncated;
  }
  return a;
}

Answer Search(api::Api& api, const std::string& body, double* seconds) {
  http::Request req{bhttp::verb::post, "/v1/availability/search", 11};
  req.set(bhttp::field::authorization, std::string("Bearer ") + kSecret);
  req.set(bhttp::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  std::promise<http::Response> promise;
  auto future = promise.get_future();
  auto t0 = Clock::now();
  api.Handle(std::move(req), "search-bench",
             [&promise](http::Response res) { promise.set_value(std::move(res)); });
  if (future.wait_for(std::chrono::seconds(120)) != std::future_status::ready) {
    std::fprintf(stderr, "no answer within 120 s\n");
    std::exit(1);
  }
  http::Response res = future.get();
  *seconds = Seconds(Clock::now() - t0);
  return Summarize(static_cast<int>(res.result_int()), res.body());
}

std::string SearchBody(const Options& o, std::int64_t limit) {
  return "{\"from\":\"" + domain::FormatInstant(kRangeStart) + "\",\"to\":\"" +
         domain::FormatInstant(kRangeStart + o.days * kDay) +
         "\",\"duration\":3600,\"step\":900,\"quantity\":1,\"limit_per_resource\":" +
         std::to_string(limit) + "}";
}

// The search's work on this thread alone, timed by phase, without the API's request handling:
// listing the tenant's resources runs once per search (the first pool task); GetResource, Usages,
// Slots and rendering run per resource, split across the pool threads (the server reads them in
// batches of one snapshot, which this breakdown does not, so its per-resource reads are slower).
void Breakdown(storage::Store& store, const domain::Clock& clock, const Options& o,
               std::int64_t limit) {
  domain::Interval range{kRangeStart, kRangeStart + o.days * kDay};
  domain::SlotQuery q{range, 3600, 900, 1, std::min<std::int64_t>(limit, 1000000 / o.resources)};
  domain::Instant now = clock.Now();
  Clock::duration get{}, usages{}, slots{};

  auto l0 = Clock::now();
  std::vector<std::string> ids;
  std::string after;
  for (int pages = 0; pages <= 10; ++pages) {
    auto page = store.ListResources(storage::kDefaultTenant, after, 1000);
    if (!page.ok() || page->data.empty()) break;
    for (const domain::Resource& r : page->data) ids.push_back(r.id);
    after = page->data.back().id;
    if (!page->more) break;
  }
  auto list = Clock::now() - l0;

  std::vector<api::SearchResult> results;
  results.reserve(ids.size());
  for (const std::string& id : ids) {
    auto t0 = Clock::now();
    auto r = store.GetResource(storage::kDefaultTenant, id);
    auto t1 = Clock::now();
    if (!r.ok()) continue;
    auto u = store.Usages(storage::kDefaultTenant, r->id, range, now);
    auto t2 = Clock::now();
    if (!u.ok()) continue;
    results.push_back(api::SearchResult{r->id, domain::Slots(*r, *u, q, now)});
    auto t3 = Clock::now();
    get += t1 - t0;
    usages += t2 - t1;
    slots += t3 - t2;
  }
  auto r0 = Clock::now();
  std::size_t bytes = api::SearchJson(results).size();
  auto render = Clock::now() - r0;
  // The server renders each chunk's results on its pool thread, so rendering
  // counts as parallel work; only the listing runs once, before the split.
  double serial = Seconds(list);
  double parallel = Seconds(get + usages + slots + render);
  std::printf(
      "  phases on one thread (effective limit %lld): once per search: ListResources %.3f s; "
      "per resource: GetResource %.3f s, Usages %.3f s, Slots %.3f s, rendering %.3f s "
      "(%zu bytes); serial share %.0f%%, so at most %.2fx with 2 threads\n",
      static_cast<long long>(q.limit), Seconds(list), Seconds(get), Seconds(usages), Seconds(slots),
      Seconds(render), bytes, 100 * serial / (serial + parallel),
      (serial + parallel) / (serial + parallel / 2));
}

int Run(const Options& o) {
  std::filesystem::path dir;
  std::string path = o.db;
  if (path.empty()) {
    const std::filesystem::path shm = "/dev/shm";
    auto base = std::filesystem::is_directory(shm) ? shm : std::filesystem::temp_directory_path();
    dir = base / ("bookd_search_bench_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    path = (dir / "bookd.db").string();
  }
  bool existed = std::filesystem::exists(path);

  FixedClock clock;
  storage::SqliteOptions sqlite;
  sqlite.path = path;
  auto opened = storage::OpenSqliteStore(sqlite, clock);
  if (!opened.ok()) {
    std::fprintf(stderr, "open %s: %s\n", path.c_str(), opened.error().detail.c_str());
    return 1;
  }
  std::unique_ptr<storage::Store> store = std::move(*opened);
  int rc = 0;
  if (!existed && !BuildDataSet(*store, o)) rc = 1;
  if (existed) std::printf("data set: reusing %s\n", path.c_str());
  (void)store->CreateKey(storage::kDefaultTenant, storage::Role::kAdmin, Sha256Hex(kSecret));

  if (rc == 0 && !o.build_only) {
    std::printf(
        "search: %d days from %s, duration 3600 s, step 900 s, quantity 1, all resources"
        "; %d rounds, pool sizes alternating\n",
        o.days, domain::FormatInstant(kRangeStart).c_str(), o.rounds);
    for (std::int64_t limit : o.limits) {
      std::string body = SearchBody(o, limit);
      std::vector<std::vector<double>> times(o.pool_threads.size());
      std::vector<std::vector<double>> cpu(o.pool_threads.size());
      std::vector<Answer> answers(o.pool_threads.size());
      std::vector<std::unique_ptr<pool::CpuPool>> pools;
      std::vector<std::unique_ptr<api::Api>> apis;
      for (std::size_t threads : o.pool_threads) {
        pools.push_back(std::make_unique<pool::CpuPool>(threads, 64));
        apis.push_back(std::make_unique<api::Api>(*store, *pools.back(), clock, api::ApiOptions{}));
        double warm = 0;
        Search(*apis.back(), body, &warm);  // opens each pool thread's read connection
      }
      for (int round = 0; round < o.rounds; ++round) {
        for (std::size_t p = 0; p < o.pool_threads.size(); ++p) {
          double s = 0;
          double cpu0 = CpuSeconds();
          answers[p] = Search(*apis[p], body, &s);
          cpu[p].push_back(CpuSeconds() - cpu0);
          times[p].push_back(s);
          if (answers[p].status != 200) {
            std::fprintf(stderr, "search answered %d\n", answers[p].status);
            rc = 1;
          }
        }
      }
      std::printf("\nlimit_per_resource %lld:\n", static_cast<long long>(limit));
      for (std::size_t p = 0; p < o.pool_threads.size(); ++p) {
        const Answer& a = answers[p];
        std::string each;
        for (double s : times[p])
          each += (each.empty() ? "" : " ") + std::to_string(s).substr(0, 5);
        std::printf(
            "  pool %zu thread(s): median %.3f s  min %.3f s  [%s]  (%zu results, %zu "
            "slots, %zu truncated, %zu bytes); CPU %.3f s per search\n",
            o.pool_threads[p], Median(times[p]),
            *std::min_element(times[p].begin(), times[p].end()), each.c_str(), a.results, a.slots,
            a.truncated, a.body_bytes, Median(cpu[p]));
      }
      if (o.pool_threads.size() >= 2) {
        std::vector<double> ratios;
        for (int round = 0; round < o.rounds; ++round) {
          ratios.push_back(times[0][static_cast<std::size_t>(round)] /
                           times[1][static_cast<std::size_t>(round)]);
        }
        std::printf(
            "  speed-up %zu -> %zu threads: %.2fx (ratio of medians), median per-round "
            "ratio %.2fx\n",
            o.pool_threads[0], o.pool_threads[1], Median(times[0]) / Median(times[1]),
            Median(ratios));
      }
      apis.clear();
      for (auto& pool : pools) pool->Join();
      Breakdown(*store, clock, o, limit);
    }
  }
  store->Close();
  store.reset();
  if (!dir.empty()) std::filesystem::remove_all(dir);
  return rc;
}

}  // namespace
}  // namespace bookd::bench

int main(int argc, char** argv) {
  return bookd::bench::Run(bookd::bench::ParseOptions(argc, argv));
}
