// Internals shared by server.cc (accepting, draining) and session.cc (one
// connection). Not part of the HTTP layer's interface.
//
// Threading: everything a Connection owns is touched only on its strand,
// except `executor_` (immutable) which Respond uses from any thread to get
// back onto the strand. ServerState's counters are atomics; its connection
// registry is guarded by `mu`.
#pragma once

// clang-format off
#include <utility>  // first: Boost 1.74's awaitable.hpp uses std::exchange without it
// clang-format on

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "http/address_table.h"
#include "http/handler.h"
#include "http/server.h"

namespace bookd::http::detail {

using tcp = boost::asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using SslStream = boost::beast::ssl_stream<tcp::socket>;

// What Drain needs of a connection, whatever its stream.
class ConnectionBase {
 public:
  virtual ~ConnectionBase() = default;
  // A strand; immutable.
  virtual const boost::asio::any_io_executor& executor() const = 0;
  // On the strand: finish the request in progress, then close.
  virtual void BeginDrain() = 0;
  // On the strand: close now.
  virtual void Close() = 0;
};

// Completion token for coroutines that look at error codes instead of
// catching exceptions: EOF and timeouts are routine here.
inline auto Token(boost::system::error_code& ec) {
  return boost::asio::redirect_error(boost::asio::use_awaitable, ec);
}

// Writes one `level=error event=<event> what=...` line for `e` (if any).
void LogException(std::exception_ptr e, const char* event);

struct ServerState {
  ServerState(boost::asio::io_context& ioc, Handler& h, Limits l)
      : handler(h),
        limits(l),
        acceptor(boost::asio::make_strand(ioc)),
        addresses(l.connections_per_address_max) {}

  Handler& handler;
  const Limits limits;
  tcp::acceptor acceptor;  // used only on its own strand once started
  std::atomic<std::size_t> open_connections{0};
  std::atomic<std::size_t> in_flight{0};
  std::atomic<bool> draining{false};
  // Admit before StartConnection; the Connection releases its address.
  AddressTable addresses;

  std::mutex mu;
  // Every live connection, for Drain. Entries are erased by ~Connection.
  std::unordered_map<const ConnectionBase*, std::weak_ptr<ConnectionBase>>
      connections;  // GUARDED_BY(mu)
  // Set by Server::UseTls before Start; then every connection speaks TLS.
  std::unique_ptr<boost::asio::ssl::context> tls;
};

// Takes an accepted socket (its executor must be a strand) whose client
// address `address` was admitted to state->addresses, and serves it until it
// closes.
void StartConnection(const std::shared_ptr<ServerState>& state, tcp::socket socket,
                     const AddressTable::Key& address);

// Called from any thread; each posts onto the connection's strand.
void BeginDrain(const std::shared_ptr<ConnectionBase>& c);
void ForceClose(const std::shared_ptr<ConnectionBase>& c);

}  // namespace bookd::http::detail
