#include "http/server.h"

#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/strand.hpp>
#include <cstdio>
#include <limits>
#include <vector>

#include "common/metrics.h"
#include "http/session.h"

namespace bookd::http {

namespace asio = boost::asio;
using asio::awaitable;
using boost::system::error_code;
using detail::Clock;
using detail::LogException;
using detail::ServerState;
using detail::tcp;
using detail::Token;

namespace {

// After an accept error (out of descriptors, most likely) the loop pauses
// this long, which also rate-limits the log line.
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);
constexpr auto kDrainPoll = std::chrono::milliseconds(20);
constexpr int kForceClosePolls = 10;

Limits Clamp(Limits l) {
  l.body_bytes_max = std::max<std::size_t>(l.body_bytes_max, 1);
  l.header_bytes_max = std::clamp<std::size_t>(l.header_bytes_max, 1 << 10, 1 << 24);
  l.header_timeout_s = std::max(l.header_timeout_s, 1);
  l.body_timeout_s = std::max(l.body_timeout_s, 1);
  l.idle_timeout_s = std::max(l.idle_timeout_s, 1);
  l.connections_max = std::max<std::size_t>(l.connections_max, 1);
  return l;
}

std::vector<std::shared_ptr<detail::ConnectionBase>> LiveConnections(ServerState& state) {
  std::lock_guard lock(state.mu);
  std::vector<std::shared_ptr<detail::ConnectionBase>> live;
  live.reserve(state.connections.size());
  for (auto& [raw, weak] : state.connections) {
    if (auto c = weak.lock()) live.push_back(std::move(c));
  }
  return live;
}

awaitable<void> AcceptLoop(std::shared_ptr<ServerState> state, asio::io_context& ioc) {
  asio::steady_timer backoff(state->acceptor.get_executor());
  bool at_capacity = false;

  // Ends when StopAccepting closes the acceptor.
  while (state->acceptor.is_open()) {
    tcp::socket socket(asio::make_strand(ioc));
    error_code ec;
    co_await state->acceptor.async_accept(socket, Token(ec));
    // A connection accepted just before StopAccepting closed the acceptor is
    // still served: dropping it would reset a client that did nothing wrong.
    if (ec == asio::error::operation_aborted || (ec && !state->acceptor.is_open())) break;
    if (ec) {
      std::fprintf(stderr, "level=warn event=accept_failed error=\"%s\"\n", ec.message().c_str());
      backoff.expires_after(kAcceptBackoff);
      co_await backoff.async_wait(Token(ec));
      continue;
    }

    const bool full =
        state->open_connections.load(std::memory_order_relaxed) >= state->limits.connections_max;
    if (full != at_capacity) {
      at_capacity = full;
      std::fprintf(stderr, "level=%s event=%s connections_max=%zu\n", full ? "warn" : "info",
                   full ? "connections_max_reached" : "connections_below_max",
                   state->limits.connections_max);
    }
    if (full) {
      metrics::AddConnectionRefused(metrics::Refusal::kTotal);
      socket.close(ec);
      continue;
    }

    const tcp::endpoint peer = socket.remote_endpoint(ec);
    if (ec) {  // the client is already gone
      socket.close(ec);
      continue;
    }
    const AddressTable::Key address = AddressTable::KeyOf(peer.address());
    if (!state->addresses.Admit(address)) {
      metrics::AddConnectionRefused(metrics::Refusal::kPerAddress);
      socket.close(ec);
      continue;
    }
    detail::StartConnection(state, std::move(socket), address);
  }
}

awaitable<void> WaitDrained(std::shared_ptr<ServerState> state, Clock::time_point deadline,
                            std::function<void()> on_drained) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  error_code ec;
  // Bounded by the grace period.
  while (state->open_connections.load() > 0 && Clock::now() < deadline) {
    timer.expires_after(kDrainPoll);
    co_await timer.async_wait(Token(ec));
  }
  if (state->open_connections.load() > 0) {
    for (const auto& c : LiveConnections(*state)) detail::ForceClose(c);
    for (int i = 0; i < kForceClosePolls && state->open_connections.load() > 0; ++i) {
      timer.expires_after(kDrainPoll);
      co_await timer.async_wait(Token(ec));
    }
  }
  if (on_drained) on_drained();
}

}  // namespace

Server::Server(asio::io_context& ioc, Handler& handler, Limits limits)
    : ioc_(ioc), state_(std::make_shared<ServerState>(ioc, handler, Clamp(limits))) {}

Server::~Server() { StopAccepting(); }

Result<std::uint16_t> Server::Listen(const std::string& host, std::uint16_t port) {
  error_code ec;
  asio::ip::address address;
  if (host.empty() || host == "*") {
    address = asio::ip::address_v4::any();
  } else {
    address = asio::ip::make_address(host, ec);
    if (ec) {
      tcp::resolver resolver(ioc_);
      auto results = resolver.resolve(host, "", ec);
      if (ec || results.empty()) {
        return MakeError(Errc::kInternal, "cannot resolve \"" + host + "\": " + ec.message());
      }
      address = results.begin()->endpoint().address();
    }
  }

  const tcp::endpoint endpoint(address, port);
  tcp::acceptor& acceptor = state_->acceptor;
  auto fail = [&](const char* step) -> Result<std::uint16_t> {
    error_code ignored;
    acceptor.close(ignored);
    return MakeError(Errc::kInternal, std::string(step) + " " + address.to_string() + ":" +
                                          std::to_string(port) + ": " + ec.message());
  };
  if (acceptor.open(endpoint.protocol(), ec); ec) return fail("open");
  if (acceptor.set_option(asio::socket_base::reuse_address(true), ec); ec)
    return fail("setsockopt");
  if (acceptor.bind(endpoint, ec); ec) return fail("bind");
  if (acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) return fail("listen");
  const auto local = acceptor.local_endpoint(ec);
  if (ec) return fail("getsockname");
  return local.port();
}

Status Server::Adopt(int listening_fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getsockname(listening_fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return MakeError(Errc::kInternal,
                     "adopt: fd " + std::to_string(listening_fd) + " is not a socket");
  }
  const tcp protocol = addr.ss_family == AF_INET6 ? tcp::v6() : tcp::v4();
  error_code ec;
  state_->acceptor.assign(protocol, listening_fd, ec);
  if (ec) return MakeError(Errc::kInternal, "adopt: " + ec.message());
  return Ok{};
}

Status Server::UseTls(const std::string& cert_chain_file, const std::string& private_key_file) {
  auto context = MakeTlsContext(cert_chain_file, private_key_file);
  if (!context) return context.error();
  state_->tls = std::move(*context);
  return Ok{};
}

Result<std::unique_ptr<asio::ssl::context>> MakeTlsContext(const std::string& cert_chain_file,
                                                           const std::string& private_key_file) {
  namespace ssl = asio::ssl;
  auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
  // TLS 1.2 and 1.3 only; no compression; a fresh key per handshake.
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::no_compression | ssl::context::single_dh_use);
  error_code ec;
  context->use_certificate_chain_file(cert_chain_file, ec);
  if (ec) {
    return MakeError(Errc::kInternal,
                     "TLS certificate \"" + cert_chain_file + "\": " + ec.message());
  }
  context->use_private_key_file(private_key_file, ssl::context::pem, ec);
  if (ec) {
    return MakeError(Errc::kInternal,
                     "TLS private key \"" + private_key_file + "\": " + ec.message());
  }
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    return MakeError(Errc::kInternal,
                     "TLS private key \"" + private_key_file + "\" does not match the certificate");
  }
  return context;
}

void Server::Start() {
  assert(state_->acceptor.is_open() && "Listen or Adopt before Start");
  asio::co_spawn(state_->acceptor.get_executor(), AcceptLoop(state_, ioc_),
                 [](std::exception_ptr e) { LogException(e, "accept_loop_failed"); });
}

void Server::StopAccepting() {
  asio::post(state_->acceptor.get_executor(), [state = state_] {
    error_code ec;
    state->acceptor.close(ec);
  });
}

void Server::Drain(std::chrono::milliseconds grace, std::function<void()> on_drained) {
  StopAccepting();
  state_->draining.store(true);
  for (const auto& c : LiveConnections(*state_)) detail::BeginDrain(c);
  asio::co_spawn(ioc_, WaitDrained(state_, Clock::now() + grace, std::move(on_drained)),
                 [](std::exception_ptr e) { LogException(e, "drain_failed"); });
}

std::size_t Server::open_connections() const { return state_->open_connections.load(); }

std::size_t Server::in_flight() const { return state_->in_flight.load(); }

}  // namespace bookd::http
