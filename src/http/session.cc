// One connection: read a request, hand it to the Handler, wait for the
// response, write it, repeat.
//
// Deadlines. A connection has one `deadline_` and one watchdog coroutine
// sleeping on a timer until it. The session moves the deadline forward per
// phase: accept -> header_timeout_s; first bytes of a request whose header is
// incomplete -> header_timeout_s; header done, body incomplete ->
// body_timeout_s; handling -> none; writing and the following idle wait ->
// idle_timeout_s. Moving a deadline later costs nothing (the watchdog wakes at
// the old time and sleeps again), so the common keep-alive request that
// arrives in one read touches no timer at all; only a deadline moved earlier
// re-arms the timer. When the deadline passes, the watchdog cancels the
// socket's operations (it does not close the socket) so that the session can
// still answer 408.
//
// Waiting for the Handler. Respond may run on any thread. It dispatches onto
// the connection's strand, stores the response and cancels `response_ready_`,
// a timer that never expires and that the session waits on. On the strand
// there is no race between "is the response there?" and "wait for it".
#include "http/session.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/write.hpp>
#include <cstdio>
#include <exception>
#include <string_view>
#include <type_traits>

#include "common/ids.h"
#include "common/metrics.h"
#include "common/problem.h"

namespace bookd::http::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::awaitable;
using boost::system::error_code;

namespace {

constexpr std::size_t kReadChunk = 16 << 10;
// Budget for the last response on a connection that is being closed after an
// error, and for discarding what the client still sends (so that closing with
// unread data does not reset the connection before the client reads the error).
constexpr auto kFarewellTimeout = std::chrono::seconds(2);
constexpr std::size_t kFarewellDiscardBytesMax = 256 << 10;
constexpr std::size_t kRequestIdLengthMax = 128;
constexpr char kRequestIdHeader[] = "X-Request-Id";

bool IsValidRequestId(std::string_view id) {
  if (id.empty() || id.size() > kRequestIdLengthMax) return false;
  for (char c : id) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

std::string RequestIdOf(const Request& req) {
  const auto given = req[kRequestIdHeader];
  if (IsValidRequestId(std::string_view(given.data(), given.size()))) {
    return std::string(given.data(), given.size());
  }
  return NextRequestId();
}

}  // namespace

// `Stream` is tcp::socket (plain HTTP) or SslStream (HTTPS); the plain one
// compiles to exactly the code it would be without TLS.
template <class Stream>
class Connection final : public ConnectionBase,
                         public std::enable_shared_from_this<Connection<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, tcp::socket>;

  // `stream_args` construct the Stream: a connected socket (and a TLS context).
  template <class... StreamArgs>
  Connection(std::shared_ptr<ServerState> state, const AddressTable::Key& address,
             StreamArgs&&... stream_args);
  ~Connection() override;

  const asio::any_io_executor& executor() const override { return executor_; }

  static awaitable<void> Run(std::shared_ptr<Connection> self);
  static awaitable<void> Watchdog(std::shared_ptr<Connection> self);

  // On the strand.
  void BeginDrain() override;
  void Close() override;

 private:
  using Parser = bhttp::request_parser<bhttp::string_body>;
  enum class Phase { kIdle, kHeader, kBody, kHandling, kWriting };

  // What reading a request came to: a request, a connection to drop silently
  // (EOF, reset, idle timeout, drain) or a request to refuse with `status`.
  struct Read {
    enum Kind { kRequest, kGone, kRefuse } kind;
    int status;
    error_code ec;

    static Read Request() { return {kRequest, 0, {}}; }
    static Read Gone() { return {kGone, 0, {}}; }
    static Read Refuse(int status, error_code ec = {}) { return {kRefuse, status, ec}; }
  };

  awaitable<bool> ServeOne();
  awaitable<Read> ReadRequest(Parser& parser);
  awaitable<bool> Answer(Request req);
  awaitable<void> Refuse(const Parser& parser, const Read& why);
  awaitable<void> DiscardAndClose();

  Respond MakeRespond();
  void OnResponse(std::uint64_t request_seq, Response res);
  void SetDeadline(Clock::time_point t);
  void ReleaseSlot();
  tcp::socket& socket() { return beast::get_lowest_layer(stream_); }

  const std::shared_ptr<ServerState> state_;
  const AddressTable::Key address_;
  Stream stream_;
  const asio::any_io_executor executor_;  // a strand; immutable, so Respond may read it
  asio::steady_timer watchdog_;
  asio::steady_timer response_ready_;
  beast::flat_buffer buffer_;  // unparsed input, kept across pipelined requests

  Phase phase_ = Phase::kIdle;
  Clock::time_point request_started_{};  // when the current request's first bytes were parsed
  Clock::time_point deadline_ = Clock::time_point::max();
  Clock::time_point timer_expiry_ = Clock::time_point::max();
  bool timed_out_ = false;  // the watchdog cancelled I/O since the last SetDeadline
  bool draining_ = false;
  bool closed_ = false;
  bool slot_released_ = false;
  // Tags each Respond, so that a stray second call cannot answer a later
  // request on the same connection.
  std::uint64_t request_seq_ = 0;
  std::optional<Response> response_;
};

template <class Stream>
template <class... StreamArgs>
Connection<Stream>::Connection(std::shared_ptr<ServerState> state, const AddressTable::Key& address,
                               StreamArgs&&... stream_args)
    : state_(std::move(state)),
      address_(address),
      stream_(std::forward<StreamArgs>(stream_args)...),
      executor_(stream_.get_executor()),
      watchdog_(executor_),
      response_ready_(executor_, Clock::time_point::max()),
      buffer_(state_->limits.header_bytes_max + kReadChunk) {
  state_->open_connections.fetch_add(1, std::memory_order_relaxed);
  metrics::AddOpenConnections(1);
}

template <class Stream>
Connection<Stream>::~Connection() {
  ReleaseSlot();
  std::lock_guard lock(state_->mu);
  state_->connections.erase(this);
}

template <class Stream>
void Connection<Stream>::ReleaseSlot() {
  if (slot_released_) return;
  slot_released_ = true;
  state_->addresses.Release(address_);
  state_->open_connections.fetch_sub(1, std::memory_order_relaxed);
  metrics::AddOpenConnections(-1);
}

template <class Stream>
void Connection<Stream>::Close() {
  if (closed_) return;
  closed_ = true;
  error_code ec;
  socket().close(ec);
  watchdog_.cancel();
  response_ready_.cancel();
  ReleaseSlot();
}

template <class Stream>
void Connection<Stream>::BeginDrain() {
  draining_ = true;
  // Only a connection waiting for the first byte of its next request is
  // idle; anything else finishes its request and then closes. A connection
  // that has not had its first request yet is not idle: its client has just
  // connected to send one and, unlike on a reused keep-alive connection,
  // would not retry a close; it gets that request answered (bounded by the
  // header deadline), with `Connection: close`.
  if (phase_ == Phase::kIdle && buffer_.size() == 0 && request_seq_ > 0) {
    error_code ec;
    socket().cancel(ec);
  }
}

template <class Stream>
void Connection<Stream>::SetDeadline(Clock::time_point t) {
  deadline_ = t;
  timed_out_ = false;
  if (t < timer_expiry_) {
    timer_expiry_ = t;
    watchdog_.expires_at(t);  // wakes the watchdog, which sleeps again until `t`
  }
}

template <class Stream>
awaitable<void> Connection<Stream>::Watchdog(std::shared_ptr<Connection> self) {
  // Ends when the connection closes: Close() cancels the timer.
  while (!self->closed_) {
    if (self->deadline_ <= Clock::now()) {
      self->timed_out_ = true;
      self->deadline_ = Clock::time_point::max();
      error_code ec;
      self->socket().cancel(ec);
    }
    self->timer_expiry_ = self->deadline_;
    self->watchdog_.expires_at(self->deadline_);
    error_code ec;
    co_await self->watchdog_.async_wait(Token(ec));
  }
}

template <class Stream>
awaitable<void> Connection<Stream>::Run(std::shared_ptr<Connection> self) {
  self->SetDeadline(Clock::now() + std::chrono::seconds(self->state_->limits.header_timeout_s));
  asio::co_spawn(self->executor_, Watchdog(self), [](std::exception_ptr) {});

  // Ends when the client goes, a deadline passes, or a response closes it.
  // A throwing Handler costs its connection, never the process; the socket
  // must be closed here or the watchdog would keep the connection alive.
  std::exception_ptr failure;
  try {
    if constexpr (kTls) {
      // Under the accept deadline (header_timeout_s), like the first header
      // bytes; a client that cannot speak TLS is closed without an answer.
      error_code ec;
      co_await self->stream_.async_handshake(asio::ssl::stream_base::server, Token(ec));
      if (ec) {
        self->Close();
        co_return;
      }
    }
    while (!self->closed_) {
      if (!co_await self->ServeOne()) break;
    }
  } catch (...) {
    failure = std::current_exception();
  }
  self->Close();
  LogException(failure, "connection_failed");
}

template <class Stream>
awaitable<bool> Connection<Stream>::ServeOne() {
  Parser parser;
  parser.header_limit(static_cast<std::uint32_t>(state_->limits.header_bytes_max));
  parser.body_limit(state_->limits.body_bytes_max);

  const Read read = co_await ReadRequest(parser);
  switch (read.kind) {
    case Read::kGone:
      co_return false;
    case Read::kRefuse:
      co_await Refuse(parser, read);
      co_return false;
    case Read::kRequest:
      break;
  }
  co_return co_await Answer(parser.release());
}

template <class Stream>
awaitable<typename Connection<Stream>::Read> Connection<Stream>::ReadRequest(Parser& parser) {
  const Limits& limits = state_->limits;
  phase_ = Phase::kIdle;
  request_started_ = {};

  // Each turn parses buffered input or reads more; the parser's limits and
  // `header_bytes` bound the bytes and the deadlines bound the time.
  //
  // The parser's header_limit counts only the input of one put(): a header
  // that arrives over many reads passes it, as complete fields are consumed
  // by each put. So the header bytes consumed so far, plus the incomplete
  // line still buffered, are counted here across puts.
  std::size_t header_bytes = 0;
  for (;;) {
    if (buffer_.size() > 0) {
      error_code ec;
      const bool in_header = !parser.is_header_done();
      if (request_started_ == Clock::time_point{}) request_started_ = Clock::now();
      const std::size_t n = parser.put(buffer_.data(), ec);
      buffer_.consume(n);
      if (in_header) {
        header_bytes += n;
        const std::size_t pending = parser.is_header_done() ? 0 : buffer_.size();
        if (header_bytes + pending > limits.header_bytes_max) {
          co_return Read::Refuse(431, bhttp::error::header_limit);
        }
      }
      if (ec == bhttp::error::header_limit) co_return Read::Refuse(431, ec);
      if (ec == bhttp::error::body_limit) co_return Read::Refuse(413, ec);
      if (ec && ec != bhttp::error::need_more) co_return Read::Refuse(400, ec);
      if (parser.is_done()) co_return Read::Request();

      if (!parser.is_header_done() && phase_ == Phase::kIdle) {
        phase_ = Phase::kHeader;
        SetDeadline(Clock::now() + std::chrono::seconds(limits.header_timeout_s));
      } else if (parser.is_header_done() && phase_ != Phase::kBody) {
        phase_ = Phase::kBody;
        SetDeadline(Clock::now() + std::chrono::seconds(limits.body_timeout_s));
        const auto expect = parser.get()[bhttp::field::expect];
        if (parser.get().version() == 11 && beast::iequals(expect, "100-continue")) {
          static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
          error_code write_ec;
          co_await asio::async_write(stream_, asio::buffer(kContinue), Token(write_ec));
          if (write_ec) co_return Read::Gone();
        }
      }
      if (!ec && n > 0) continue;
    }

    if (phase_ == Phase::kIdle && request_seq_ > 0 &&
        (draining_ || state_->draining.load(std::memory_order_relaxed))) {
      co_return Read::Gone();
    }
    if (timed_out_) {
      co_return phase_ == Phase::kIdle ? Read::Gone() : Read::Refuse(408);
    }
    const std::size_t room = buffer_.max_size() - buffer_.size();
    if (room == 0) {
      // Only a chunk-size line longer than the header limit gets here.
      co_return Read::Refuse(parser.is_header_done() ? 400 : 431);
    }
    error_code ec;
    const std::size_t n =
        co_await stream_.async_read_some(buffer_.prepare(std::min(room, kReadChunk)), Token(ec));
    buffer_.commit(n);
    if (ec) {
      if (timed_out_ && phase_ != Phase::kIdle) co_return Read::Refuse(408);
      co_return Read::Gone();  // EOF, reset, idle timeout or drain
    }
  }
}

template <class Stream>
awaitable<bool> Connection<Stream>::Answer(Request req) {
  struct InFlight {
    std::atomic<std::size_t>& n;
    explicit InFlight(std::atomic<std::size_t>& count) : n(count) { n.fetch_add(1); }
    ~InFlight() { n.fetch_sub(1); }
  } in_flight(state_->in_flight);

  phase_ = Phase::kHandling;
  SetDeadline(Clock::time_point::max());  // the Handler bounds its own work
  const std::string request_id = RequestIdOf(req);
  const bool client_keep_alive = req.keep_alive();
  const unsigned version = req.version();
  const bool head = req.method() == bhttp::verb::head;

  response_.reset();
  ++request_seq_;
  state_->handler.Handle(std::move(req), request_id, MakeRespond());
  // Woken by OnResponse, or by Close when the server gives up on draining.
  while (!response_ && !closed_) {
    error_code ec;
    co_await response_ready_.async_wait(Token(ec));
  }
  if (!response_) co_return false;

  Response& res = *response_;
  res.version(11);
  const bool keep_alive = client_keep_alive && res.keep_alive() && !draining_ &&
                          !state_->draining.load(std::memory_order_relaxed);
  res.version(version);
  res.keep_alive(keep_alive);
  res.set(kRequestIdHeader, request_id);
  res.prepare_payload();
  if (head) res.body().clear();  // Content-Length stays that of the GET

  phase_ = Phase::kWriting;
  SetDeadline(Clock::now() + std::chrono::seconds(state_->limits.idle_timeout_s));
  error_code ec;
  co_await bhttp::async_write(stream_, res, Token(ec));
  response_.reset();
  if (ec) co_return false;
  if (keep_alive) co_return true;
  // Closing a socket whose input was not all read makes the kernel send a
  // reset, which can destroy this response before the client reads it: the
  // rest of a pipeline after `Connection: close`, or requests still queued
  // when the server drains. Linger instead, as after a refusal.
  if (buffer_.size() > 0 || socket().available(ec) > 0) {
    SetDeadline(Clock::now() + kFarewellTimeout);
    co_await DiscardAndClose();
  }
  co_return false;
}

template <class Stream>
awaitable<void> Connection<Stream>::Refuse(const Parser& parser, const Read& why) {
  const Limits& limits = state_->limits;
  std::string body;
  switch (why.status) {
    case 408:
      body = TransportProblemJson(408, "request_timeout", "Request timeout",
                                  "the request did not arrive in time");
      break;
    case 413:
      body = ProblemJson(MakeError(
          Errc::kPayloadTooLarge,
          "the request body exceeds " + std::to_string(limits.body_bytes_max) + " bytes"));
      break;
    case 431:
      body = TransportProblemJson(
          431, "request_header_fields_too_large", "Request header fields too large",
          "the request headers exceed " + std::to_string(limits.header_bytes_max) + " bytes");
      break;
    default:
      body = ProblemJson(
          MakeError(Errc::kBadRequest,
                    "malformed HTTP request" + (why.ec ? ": " + why.ec.message() : std::string())));
  }

  // Counted like the answers of the API, under the route of no route; the
  // method is "-" when the request line itself did not parse.
  const Request& req = parser.get();
  metrics::RecordRequest(req.method_string().empty() ? std::string("-") : MethodLabel(req),
                         "unmatched", why.status,
                         std::chrono::duration<double>(Clock::now() - request_started_).count());

  Response res{static_cast<bhttp::status>(why.status), 11};
  res.set(bhttp::field::content_type, "application/problem+json");
  res.set(kRequestIdHeader, RequestIdOf(parser.get()));
  res.keep_alive(false);
  res.body() = std::move(body);
  res.prepare_payload();

  phase_ = Phase::kWriting;
  SetDeadline(Clock::now() + kFarewellTimeout);
  error_code ec;
  co_await bhttp::async_write(stream_, res, Token(ec));
  if (!ec) co_await DiscardAndClose();
}

template <class Stream>
awaitable<void> Connection<Stream>::DiscardAndClose() {
  // Half-close, then read and drop what the client still sends, within the
  // farewell deadline already set, so that close() does not turn into a
  // reset that destroys the response in the client's receive buffer. Over
  // TLS the end is first announced with close_notify; the bytes after that
  // are dropped unread by TLS, as raw TCP.
  error_code ec;
  if constexpr (kTls) {
    co_await stream_.async_shutdown(Token(ec));
    ec = {};
  }
  socket().shutdown(tcp::socket::shutdown_send, ec);
  buffer_.clear();
  const auto scratch = buffer_.prepare(kReadChunk);
  std::size_t discarded = 0;
  while (!ec && !timed_out_ && discarded < kFarewellDiscardBytesMax) {
    discarded += co_await socket().async_read_some(scratch, Token(ec));
  }
  Close();
}

template <class Stream>
Respond Connection<Stream>::MakeRespond() {
  return [self = this->shared_from_this(), seq = request_seq_](Response res) {
    asio::dispatch(self->executor_, [self, seq, res = std::move(res)]() mutable {
      self->OnResponse(seq, std::move(res));
    });
  };
}

template <class Stream>
void Connection<Stream>::OnResponse(std::uint64_t request_seq, Response res) {
  const bool expected = request_seq == request_seq_ && !response_;
  assert((expected || closed_) && "Respond called twice for one request");
  if (!expected || closed_) return;
  response_ = std::move(res);
  response_ready_.cancel();
}

namespace {

template <class Stream, class... StreamArgs>
void Spawn(const std::shared_ptr<ServerState>& state, const AddressTable::Key& address,
           StreamArgs&&... stream_args) {
  auto c = std::make_shared<Connection<Stream>>(state, address,
                                                std::forward<StreamArgs>(stream_args)...);
  {
    std::lock_guard lock(state->mu);
    state->connections.emplace(c.get(), c);
  }
  asio::co_spawn(c->executor(), Connection<Stream>::Run(c),
                 [](std::exception_ptr e) { LogException(e, "connection_failed"); });
}

}  // namespace

void StartConnection(const std::shared_ptr<ServerState>& state, tcp::socket socket,
                     const AddressTable::Key& address) {
  error_code ec;
  socket.set_option(tcp::no_delay(true), ec);  // responses go out as one write each
  if (state->tls) {
    Spawn<SslStream>(state, address, std::move(socket), *state->tls);
  } else {
    Spawn<tcp::socket>(state, address, std::move(socket));
  }
}

void LogException(std::exception_ptr e, const char* event) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "level=error event=%s what=\"%s\"\n", event, ex.what());
  } catch (...) {
    std::fprintf(stderr, "level=error event=%s what=unknown\n", event);
  }
}

void BeginDrain(const std::shared_ptr<ConnectionBase>& c) {
  asio::post(c->executor(), [c] { c->BeginDrain(); });
}

void ForceClose(const std::shared_ptr<ConnectionBase>& c) {
  asio::post(c->executor(), [c] { c->Close(); });
}

}  // namespace bookd::http::detail
