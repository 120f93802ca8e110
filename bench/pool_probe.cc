// bookd-pool-probe: measures the latency of cheap GET requests while other connections keep
// POST /v1/availability/search running back to back (bench/pool_isolation.sh).
//
// Each --get path has its own connection and thread and sends one request at a time, paced by
// --interval-ms, so that the probes measure the server's responsiveness without loading it. Each
// of the --searchers connections sends the --search-body file again as soon as its answer
// arrives, so the CPU pool always has work queued. Latencies are exact (every sample is kept, at
// most kSamplesMax per path) and only requests sent after --warmup count.
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kSamplesMax = 2000000;
constexpr int kSearchersMax = 64;
constexpr int kPathsMax = 8;

struct Options {
  std::string host = "127.0.0.1";
  std::string port;
  std::string key;
  std::vector<std::string> paths;
  std::string search_body;
  int searchers = 0;
  double duration_s = 10;
  double warmup_s = 2;
  double interval_ms = 2;
};

struct Series {
  std::mutex mu;
  std::vector<double> ms;        // GUARDED_BY(mu)
  std::map<int, long> statuses;  // GUARDED_BY(mu); 0 = transport error
};

[[noreturn]] void Usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s --target HOST:PORT [--key KEY] [--get PATH]... [--search-body FILE "
               "--searchers N]\n          [--duration S] [--warmup S] [--interval-ms MS]\n",
               argv0);
  std::exit(2);
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Usage(argv[0]);
      return argv[++i];
    };
    if (a == "--target") {
      std::string t = value();
      std::size_t colon = t.rfind(':');
      if (colon == std::string::npos) Usage(argv[0]);
      o.host = t.substr(0, colon);
      o.port = t.substr(colon + 1);
    } else if (a == "--key") {
      o.key = value();
    } else if (a == "--get") {
      o.paths.push_back(value());
    } else if (a == "--search-body") {
      std::ifstream in(value());
      std::stringstream ss;
      ss << in.rdbuf();
      o.search_body = ss.str();
    } else if (a == "--searchers") {
      o.searchers = std::atoi(value().c_str());
    } else if (a == "--duration") {
      o.duration_s = std::atof(value().c_str());
    } else if (a == "--warmup") {
      o.warmup_s = std::atof(value().c_str());
    } else if (a == "--interval-ms") {
      o.interval_ms = std::atof(value().c_str());
    } else {
      Usage(argv[0]);
    }
  }
  if (o.port.empty() || o.searchers < 0 || o.searchers > kSearchersMax ||
      static_cast<int>(o.paths.size()) > kPathsMax || o.duration_s <= 0 || o.duration_s > 3600 ||
      (o.searchers > 0 && o.search_body.empty())) {
    Usage(argv[0]);
  }
  return o;
}

// One keep-alive connection, reopened after a transport error. A receive timeout bounds every
// read so that a stuck server ends the run instead of hanging it.
class Connection {
 public:
  explicit Connection(const Options& o) : o_(o) {}

  // The status, or 0 on a transport error.
  int Send(const bhttp::request<bhttp::string_body>& req) {
    try {
      if (!socket_.is_open()) Open();
      bhttp::write(socket_, req);
      bhttp::response<bhttp::string_body> res;
      buffer_.clear();
      bhttp::read(socket_, buffer_, res);
      if (!res.keep_alive()) socket_.close();
      return static_cast<int>(res.result_int());
    } catch (const std::exception&) {
      beast::error_code ignored;
      socket_.close(ignored);
      return 0;
    }
  }

 private:
  void Open() {
    tcp::resolver resolver(io_);
    asio::connect(socket_, resolver.resolve(o_.host, o_.port));
    socket_.set_option(tcp::no_delay(true));
    timeval tv{30, 0};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }

  const Options& o_;
  asio::io_context io_;
  tcp::socket socket_{io_};
  beast::flat_buffer buffer_;
};

bhttp::request<bhttp::string_body> MakeRequest(const Options& o, bhttp::verb verb,
                                               const std::string& target, const std::string& body) {
  bhttp::request<bhttp::string_body> req{verb, target, 11};
  req.set(bhttp::field::host, o.host + ":" + o.port);
  if (!o.key.empty()) req.set(bhttp::field::authorization, "Bearer " + o.key);
  if (!body.empty()) req.set(bhttp::field::content_type, "application/json");
  req.body() = body;
  req.keep_alive(true);
  req.prepare_payload();
  return req;
}

void Loop(const Options& o, const bhttp::request<bhttp::string_body>& req, double pause_ms,
          Clock::time_point measure_from, const std::atomic<bool>& stop, Series& out) {
  Connection conn(o);
  while (!stop.load()) {
    auto t0 = Clock::now();
    int status = conn.Send(req);
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (t0 >= measure_from && !stop.load()) {
      std::lock_guard lock(out.mu);
      if (out.ms.size() < kSamplesMax) out.ms.push_back(ms);
      ++out.statuses[status];
    }
    if (status == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (pause_ms > 0) {
      std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(pause_ms));
    }
  }
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  std::size_t rank = static_cast<std::size_t>(p / 100 * static_cast<double>(sorted.size()));
  return sorted[std::min(rank, sorted.size() - 1)];
}

void Print(const std::string& name, Series& s, double duration_s) {
  std::lock_guard lock(s.mu);
  std::sort(s.ms.begin(), s.ms.end());
  std::string statuses;
  for (auto [status, n] : s.statuses) {
    statuses += (statuses.empty() ? "" : ",") + std::string("\"") + std::to_string(status) +
                "\":" + std::to_string(n);
  }
  std::printf(
      "{\"name\":\"%s\",\"count\":%zu,\"per_s\":%.1f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,"
      "\"p99_ms\":%.3f,\"max_ms\":%.3f,\"statuses\":{%s}}\n",
      name.c_str(), s.ms.size(), static_cast<double>(s.ms.size()) / duration_s,
      Percentile(s.ms, 50), Percentile(s.ms, 90), Percentile(s.ms, 99),
      s.ms.empty() ? 0.0 : s.ms.back(), statuses.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  Options o = Parse(argc, argv);
  std::atomic<bool> stop{false};
  auto measure_from = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                         std::chrono::duration<double>(o.warmup_s));
  std::vector<Series> probes(o.paths.size());
  Series searches;
  std::vector<bhttp::request<bhttp::string_body>> requests;
  for (const std::string& path : o.paths) {
    requests.push_back(MakeRequest(o, bhttp::verb::get, path, ""));
  }
  auto search = MakeRequest(o, bhttp::verb::post, "/v1/availability/search", o.search_body);

  std::vector<std::thread> threads;
  for (int i = 0; i < o.searchers; ++i) {
    threads.emplace_back([&] { Loop(o, search, 0, measure_from, stop, searches); });
  }
  for (std::size_t i = 0; i < o.paths.size(); ++i) {
    threads.emplace_back(
        [&, i] { Loop(o, requests[i], o.interval_ms, measure_from, stop, probes[i]); });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup_s + o.duration_s));
  stop.store(true);
  for (auto& t : threads) t.join();

  for (std::size_t i = 0; i < o.paths.size(); ++i) Print(o.paths[i], probes[i], o.duration_s);
  if (o.searchers > 0) Print("search", searches, o.duration_s);
  return 0;
}
