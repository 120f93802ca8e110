// The HTTP/1.1 server: owns listening sockets, connections, parsing, limits
// and deadlines, and hands each complete request to a Handler.
//
// Shape (as in the Beast coroutine examples): one accept coroutine, one
// session coroutine per connection on its own strand, and a fresh deadline
// for each phase of each request. Nothing blocks a thread: a slow client
// costs a suspended coroutine, a slow Handler costs a suspended coroutine.
//
// Contract with clients (see /work/shared/api.md "Limits"):
//   - request headers over Limits::header_bytes_max: 431, then close;
//   - a body over Limits::body_bytes_max: 413, then close (Content-Length is
//     checked before any body byte is read; chunked bodies as they arrive);
//   - headers not complete within header_timeout_s of their first byte, or a
//     body not complete within body_timeout_s of the end of the headers: 408,
//     then close;
//   - no new request within idle_timeout_s of the last response (or no byte
//     within header_timeout_s of accept): closed silently;
//   - malformed HTTP, including Content-Length with Transfer-Encoding: 400,
//     then close;
//   - over Limits::connections_max open connections, or over
//     Limits::connections_per_address_max from the client's address: a new
//     connection is accepted and closed at once, unread (cheapest under
//     overload; clients see a reset and may retry), and counted in
//     bookd_connections_refused_total{reason="total"|"per_address"};
//   - with UseTls, the listener speaks HTTPS only: the TLS handshake must
//     complete within header_timeout_s of accept, else the connection is
//     closed without an answer (so is a plain HTTP request);
//   - every response carries X-Request-Id, Content-Length and the version of
//     the request; keep-alive follows the request unless the Handler sets
//     `Connection: close` or the server is draining.
// Requests on one connection are answered in order; the next request is read
// only after the previous response is written.
//
// Lifetime: connections share ownership of the server's state, so Server may
// be destroyed before the io_context. A Handler must call Respond exactly
// once, and must do so before the io_context is destroyed.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "http/handler.h"

namespace bookd::http {

// Clamped at construction to at least 1 s, 1 KiB of headers, 1 connection.
// connections_per_address_max == 0 means no per-address cap (behind a proxy
// every client has the proxy's address).
struct Limits {
  std::size_t body_bytes_max = 1 << 20;
  std::size_t header_bytes_max = 16 << 10;
  int header_timeout_s = 10;
  int body_timeout_s = 30;
  int idle_timeout_s = 60;
  std::size_t connections_max = 10000;
  std::size_t connections_per_address_max = 1024;
};

namespace detail {
struct ServerState;
}

// Loads and checks a certificate chain and its private key (PEM) into a
// server TLS context; also how a supervisor checks the files before forking.
Result<std::unique_ptr<boost::asio::ssl::context>> MakeTlsContext(
    const std::string& cert_chain_file, const std::string& private_key_file);

class Server {
 public:
  // `handler` must outlive every request it is given.
  Server(boost::asio::io_context& ioc, Handler& handler, Limits limits);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens (SO_REUSEADDR) on `host` (an address or a name;
  // empty or "*" means all IPv4 addresses). Port 0 picks an ephemeral port.
  // Returns the bound port.
  Result<std::uint16_t> Listen(const std::string& host, std::uint16_t port);

  // Accepts on a socket that is already bound and listening (a supervisor
  // binds it once and forks workers). Takes ownership of `listening_fd`.
  Status Adopt(int listening_fd);

  // Serves HTTPS only (TLS 1.2 or 1.3) with the PEM certificate chain and
  // private key in these files. Call before Start.
  Status UseTls(const std::string& cert_chain_file, const std::string& private_key_file);

  // Starts accepting on the socket from Listen or Adopt. Call once, before
  // or after the io_context threads start.
  void Start();

  // Closes the listening socket; open connections carry on. Thread-safe.
  void StopAccepting();

  // Graceful shutdown, callable from any thread (a SIGTERM handler):
  // stops accepting, closes idle keep-alive connections, lets in-flight
  // requests finish (their responses say `Connection: close`), answers the
  // first request of a connection accepted but not used yet (a client that
  // has just connected would not retry a close), and calls
  // `on_drained` once, on an io_context thread, when no connection is left
  // or `grace` has passed (remaining connections are then closed by force).
  void Drain(std::chrono::milliseconds grace, std::function<void()> on_drained);

  std::size_t open_connections() const;
  // Requests read completely whose response is not yet written.
  std::size_t in_flight() const;

 private:
  boost::asio::io_context& ioc_;
  std::shared_ptr<detail::ServerState> state_;
};

}  // namespace bookd::http
