#include "load_driver.h"

// clang-format off
// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>
// clang-format on

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/read.hpp>
#include <cassert>
#include <chrono>
#include <memory>
#include <optional>
#include <thread>

namespace bookd::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::int64_t kYear2027Start_s = 1798761600;  // 2027-01-01T00:00:00Z
constexpr int kHoursIn2027 = 365 * 24;
constexpr std::size_t kAnswerBodyLimitBytes = 1 << 20;
constexpr std::size_t kSampleBytes = 300;
constexpr auto kWatchdogPeriod = std::chrono::milliseconds(100);
constexpr auto kReconnectPause = std::chrono::milliseconds(10);

// Hour strings of 2027 are formatted once; the hot path only copies them.
const std::vector<std::string>& HourTexts() {
  static const std::vector<std::string> texts = [] {
    std::vector<std::string> out;
    out.reserve(kHoursIn2027 + 1);
    for (int h = 0; h <= kHoursIn2027; ++h) {
      out.push_back(FormatUtcSeconds(kYear2027Start_s + std::int64_t{h} * 3600));
    }
    return out;
  }();
  return texts;
}

void AppendTime(std::int64_t t, std::string* out) {
  const std::int64_t since_s = t - kYear2027Start_s;
  if (since_s >= 0 && since_s % 3600 == 0 && since_s / 3600 <= kHoursIn2027) {
    out->append(HourTexts()[since_s / 3600]);
  } else {
    out->append(FormatUtcSeconds(t));
  }
}

// A Beast parser that keeps only what the driver needs (status, Location, body) in buffers
// owned by the connection, so that parsing an answer allocates nothing once they have grown.
class AnswerParser final : public http::basic_parser<false> {
 public:
  AnswerParser(std::string* body, std::string* location) : body_(body), location_(location) {
    body_->clear();
    location_->clear();
    body_limit(kAnswerBodyLimitBytes);
  }
  int status() const { return status_; }

 private:
  void on_request_impl(http::verb, beast::string_view, beast::string_view, int,
                       beast::error_code&) override {}
  void on_response_impl(int code, beast::string_view, int, beast::error_code&) override {
    status_ = code;
  }
  void on_field_impl(http::field name, beast::string_view, beast::string_view value,
                     beast::error_code&) override {
    if (name == http::field::location) location_->assign(value.data(), value.size());
  }
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&, beast::error_code&) override {}
  std::size_t on_body_impl(beast::string_view chunk, beast::error_code&) override {
    body_->append(chunk.data(), chunk.size());
    return chunk.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view chunk,
                                 beast::error_code&) override {
    body_->append(chunk.data(), chunk.size());
    return chunk.size();
  }
  void on_finish_impl(beast::error_code&) override {}

  std::string* body_;
  std::string* location_;
  int status_ = 0;
};

struct Connection {
  explicit Connection(asio::io_context& io) : socket(io) {}

  tcp::socket socket;
  beast::flat_buffer buffer;
  std::string request;
  std::string body;
  std::string location;
  std::optional<AnswerParser> parser;
  PendingBooking pending;
  Clock::time_point in_flight_since{};  // Epoch while idle.
  bool timed_out = false;
  bool done = false;
};

// Everything one thread owns while the load runs.
struct Lane {
  Lane(const DriverConfig& config, const Workload& workload, std::uint64_t seed)
      : config(config), workload(workload), rng(seed) {
    const std::size_t n = workload.resource_ids().size();
    result.refused_by_resource.assign(n, 0);
    result.created_by_resource.assign(n, 0);
  }

  const DriverConfig& config;
  const Workload& workload;
  asio::io_context io{1};
  std::mt19937_64 rng;
  std::vector<std::unique_ptr<Connection>> connections;
  tcp::endpoint endpoint;
  Clock::time_point window_start;
  Clock::time_point window_end;
  int running = 0;
  LoadResult result;
};

std::string BookingIdFrom(const std::string& location, const std::string& body) {
  if (auto slash = location.rfind('/'); slash != std::string::npos && slash + 1 < location.size()) {
    return location.substr(slash + 1);
  }
  // No Location: fall back to the body's top-level "id" member, which comes first in practice;
  // a miss is reported by the verification as a missing booking.
  static constexpr std::string_view kKey = "\"id\":\"";
  const auto at = body.find(kKey);
  if (at == std::string::npos) return {};
  const auto from = at + kKey.size();
  return body.substr(from, body.find('"', from) - from);
}

void Account(Lane& lane, Connection& c, int status, Clock::time_point sent,
             Clock::time_point answered) {
  LoadResult& r = lane.result;
  const bool in_window = answered >= lane.window_start && answered < lane.window_end;
  ++r.answers_total;
  if (in_window) {
    ++r.answers_in_window;
    r.latency.Record(std::chrono::duration_cast<std::chrono::nanoseconds>(answered - sent).count());
  }

  const bool booking = c.pending.resource >= 0;
  if (booking && status == 201) {
    r.created_in_window += in_window;
    ++r.created_by_resource[c.pending.resource];
    r.created.push_back({BookingIdFrom(c.location, c.body),
                         {lane.workload.resource_ids()[c.pending.resource], c.pending.start_s,
                          c.pending.end_s, lane.workload.quantity()}});
    return;
  }
  if (booking && status == 409 && c.body.find("unavailable") != std::string::npos) {
    r.refused_in_window += in_window;
    ++r.refused_by_resource[c.pending.resource];
    return;
  }
  if (!booking && status == 200) {
    r.ok_in_window += in_window;
    return;
  }
  ++r.other_total;
  ++r.other_by_status[status];
  if (r.other_sample.empty()) {
    r.other_sample = std::to_string(status) + " " + c.body.substr(0, kSampleBytes);
  }
}

void NoteError(Lane& lane, Connection& c, const char* step, const beast::error_code& ec) {
  ++lane.result.transport_errors;
  if (lane.result.error_sample.empty()) {
    lane.result.error_sample =
        std::string(step) + ": " + (c.timed_out ? "request timed out" : ec.message());
  }
}

asio::awaitable<void> Drive(Lane& lane, Connection& c) {
  beast::error_code ec;
  auto token = asio::redirect_error(asio::use_awaitable, ec);
  bool connected = false;
  asio::steady_timer pause(lane.io);

  while (Clock::now() < lane.window_end) {
    if (!connected) {
      c.socket.close(ec);
      c.buffer.clear();
      c.timed_out = false;
      c.in_flight_since = Clock::now();
      co_await c.socket.async_connect(lane.endpoint, token);
      c.in_flight_since = {};
      if (ec) {
        NoteError(lane, c, "connect", ec);
        pause.expires_after(kReconnectPause);
        co_await pause.async_wait(token);
        continue;
      }
      c.socket.set_option(tcp::no_delay(true), ec);
      connected = true;
    }

    lane.workload.Fill(lane.rng, &c.request, &c.pending);
    const auto sent = Clock::now();
    c.in_flight_since = sent;
    co_await asio::async_write(c.socket, asio::buffer(c.request), token);
    if (!ec) {
      c.parser.emplace(&c.body, &c.location);
      co_await http::async_read(c.socket, c.buffer, *c.parser, token);
    }
    c.in_flight_since = {};
    if (ec) {
      NoteError(lane, c, "request", ec);
      connected = false;
      ++lane.result.reconnects;
      continue;
    }
    Account(lane, c, c.parser->status(), sent, Clock::now());
    if (!c.parser->keep_alive()) {
      connected = false;
      ++lane.result.reconnects;
    }
  }
  c.socket.close(ec);
  c.done = true;
  --lane.running;
}

// Cuts off requests that exceed the timeout, so that a stuck server ends the run with errors
// instead of hanging it.
asio::awaitable<void> Watchdog(Lane& lane) {
  beast::error_code ec;
  asio::steady_timer timer(lane.io);
  const auto timeout = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(lane.config.request_timeout_s));
  while (lane.running > 0) {
    timer.expires_after(kWatchdogPeriod);
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    const auto now = Clock::now();
    for (auto& c : lane.connections) {
      if (c->done || c->in_flight_since == Clock::time_point{}) continue;
      if (now - c->in_flight_since > timeout) {
        c->timed_out = true;
        c->socket.close(ec);
      }
    }
  }
}

}  // namespace

Workload Workload::Static(const std::string& host, const std::string& path) {
  Workload w;
  w.kind_ = Kind::kStatic;
  w.fixed_request_ = "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n";
  return w;
}

Workload Workload::Uniform(const std::string& host, const std::string& api_key,
                           std::vector<std::string> resource_ids, std::int64_t quantity) {
  Workload w;
  w.kind_ = Kind::kUniform;
  w.header_prefix_ = "POST /v1/bookings HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer " +
                     api_key + "\r\nContent-Type: application/json\r\nContent-Length: ";
  w.resource_ids_ = std::move(resource_ids);
  w.quantity_ = quantity;
  HourTexts();
  return w;
}

Workload Workload::Flash(const std::string& host, const std::string& api_key,
                         std::vector<std::string> resource_ids, std::int64_t quantity,
                         std::int64_t start_s, std::int64_t end_s) {
  Workload w = Uniform(host, api_key, std::move(resource_ids), quantity);
  w.kind_ = Kind::kFlash;
  w.flash_start_s_ = start_s;
  w.flash_end_s_ = end_s;
  return w;
}

void Workload::Fill(std::mt19937_64& rng, std::string* request, PendingBooking* pending) const {
  if (kind_ == Kind::kStatic) {
    if (request->empty()) *request = fixed_request_;
    pending->resource = -1;
    return;
  }
  const int resource = static_cast<int>(rng() % resource_ids_.size());
  if (kind_ == Kind::kFlash) {
    *pending = {resource, flash_start_s_, flash_end_s_};
  } else {
    const int hour = static_cast<int>(rng() % kHoursIn2027);
    *pending = {resource, kYear2027Start_s + std::int64_t{hour} * 3600,
                kYear2027Start_s + std::int64_t{hour + 1} * 3600};
  }
  FillBooking(resource, pending->start_s, pending->end_s, request);
}

void Workload::FillBooking(int resource, std::int64_t start_s, std::int64_t end_s,
                           std::string* request) const {
  // The body is written after a fixed-width Content-Length placeholder, which is then patched,
  // so that the request is built in one pass in a buffer that keeps its capacity.
  constexpr std::string_view kLengthPlaceholder = "00000\r\n\r\n";
  request->assign(header_prefix_);
  const std::size_t length_at = request->size();
  request->append(kLengthPlaceholder);
  const std::size_t body_at = request->size();

  request->append("{\"items\":[{\"resource_id\":\"");
  request->append(resource_ids_[resource]);
  request->append("\",\"start\":\"");
  AppendTime(start_s, request);
  request->append("\",\"end\":\"");
  AppendTime(end_s, request);
  request->append("\",\"quantity\":");
  request->append(std::to_string(quantity_));
  request->append("}]}");

  const std::size_t body_bytes = request->size() - body_at;
  assert(body_bytes < 100000);
  for (std::size_t i = 0, n = body_bytes; i < 5; ++i, n /= 10) {
    (*request)[length_at + 4 - i] = static_cast<char>('0' + n % 10);
  }
}

LoadResult RunLoad(const DriverConfig& config, const Workload& workload) {
  const auto start = Clock::now();
  const auto window_start = start + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(config.warmup_s));
  const auto window_end = window_start + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(config.duration_s));

  std::vector<std::unique_ptr<Lane>> lanes;
  for (int t = 0; t < config.threads; ++t) {
    auto lane = std::make_unique<Lane>(config, workload, config.seed * 1000003 + t);
    lane->endpoint = tcp::endpoint(asio::ip::make_address(config.host), config.port);
    lane->window_start = window_start;
    lane->window_end = window_end;
    lanes.push_back(std::move(lane));
  }
  for (int i = 0; i < config.connections; ++i) {
    Lane& lane = *lanes[i % config.threads];
    lane.connections.push_back(std::make_unique<Connection>(lane.io));
    lane.connections.back()->request.reserve(512);
    lane.connections.back()->body.reserve(1024);
    ++lane.running;
  }
  for (auto& lane : lanes) {
    for (auto& c : lane->connections) asio::co_spawn(lane->io, Drive(*lane, *c), asio::detached);
    asio::co_spawn(lane->io, Watchdog(*lane), asio::detached);
  }

  std::vector<std::thread> threads;
  for (std::size_t t = 1; t < lanes.size(); ++t) {
    threads.emplace_back([&lane = *lanes[t]] { lane.io.run(); });
  }
  lanes[0]->io.run();
  for (auto& thread : threads) thread.join();

  LoadResult merged = std::move(lanes[0]->result);
  for (std::size_t t = 1; t < lanes.size(); ++t) {
    LoadResult& r = lanes[t]->result;
    merged.latency.Merge(r.latency);
    merged.answers_in_window += r.answers_in_window;
    merged.created_in_window += r.created_in_window;
    merged.refused_in_window += r.refused_in_window;
    merged.ok_in_window += r.ok_in_window;
    merged.answers_total += r.answers_total;
    merged.other_total += r.other_total;
    merged.transport_errors += r.transport_errors;
    merged.reconnects += r.reconnects;
    for (auto [status, n] : r.other_by_status) merged.other_by_status[status] += n;
    if (merged.other_sample.empty()) merged.other_sample = r.other_sample;
    if (merged.error_sample.empty()) merged.error_sample = r.error_sample;
    merged.created.insert(merged.created.end(), std::make_move_iterator(r.created.begin()),
                          std::make_move_iterator(r.created.end()));
    for (std::size_t i = 0; i < r.refused_by_resource.size(); ++i) {
      merged.refused_by_resource[i] += r.refused_by_resource[i];
      merged.created_by_resource[i] += r.created_by_resource[i];
    }
  }
  merged.window_s = config.duration_s;
  return merged;
}

}  // namespace bookd::bench
