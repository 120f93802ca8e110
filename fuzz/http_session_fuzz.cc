// HTTP requests as they arrive from a client: the real http::Server, with the
// limits bookd serves with (http::Limits{}), reads one connection whose bytes
// are the fuzz input cut into pieces. Each piece is written only after the
// server has taken the previous one off the socket, so the session's parser
// really sees the input in those pieces.
//
// Input: byte 0 seeds the piece sizes, the rest is what the client sends.
// After the last piece the client half-closes and reads until the server
// closes. Checks:
//  - the server closes the connection and releases it (no hang, no leak);
//  - the requests the Handler saw are exactly those a single Beast parser
//    with the same limits finds in the whole input at once (cutting the
//    input into pieces changes nothing);
//  - every byte the server wrote is a well-formed HTTP response with a
//    Content-Length and an X-Request-Id, with a status the server may send.
//
// The server listens on a Unix socket (Server::Adopt takes any listening
// socket), which keeps the harness off the network and free of TIME_WAIT.
#include <linux/sockios.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fuzz_check.h"
#include "http/server.h"

namespace {

namespace bhttp = boost::beast::http;
using namespace std::chrono_literals;

constexpr std::size_t kPiecesMax = 16;
constexpr auto kCloseTimeout = 10s;

struct Seen {
  std::string method;
  std::string target;
  std::string body;
  unsigned version = 0;
  bool operator==(const Seen&) const = default;
};

// Records what it is given and answers at once.
class RecordingHandler final : public bookd::http::Handler {
 public:
  void Handle(bookd::http::Request&& req, const std::string&,
              bookd::http::Respond respond) override {
    {
      std::lock_guard lock(mu_);
      seen_.push_back(
          {std::string(req.method_string()), std::string(req.target()), req.body(), req.version()});
    }
    bookd::http::Response res{bhttp::status::ok, req.version()};
    res.set(bhttp::field::content_type, "text/plain");
    res.body() = "ok";
    respond(std::move(res));
  }

  std::vector<Seen> Take() {
    std::lock_guard lock(mu_);
    return std::exchange(seen_, {});
  }

 private:
  std::mutex mu_;
  std::vector<Seen> seen_;
};

// One server for the whole run, deliberately never destroyed: libFuzzer
// exits from inside the run loop, with the I/O thread still going.
struct Harness {
  boost::asio::io_context ioc{1};
  RecordingHandler handler;
  bookd::http::Server server{ioc, handler, bookd::http::Limits{}};
  sockaddr_un addr{};
  std::thread io;

  Harness() {
    addr.sun_family = AF_UNIX;
    // Abstract namespace: no file to clean up, unique per process.
    const std::string name = "bookd-fuzz-" + std::to_string(::getpid());
    std::memcpy(addr.sun_path + 1, name.data(), name.size());
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    FUZZ_CHECK(fd >= 0, "socket");
    FUZZ_CHECK(::bind(fd, reinterpret_cast<sockaddr*>(&addr), AddrLen()) == 0, "bind");
    FUZZ_CHECK(::listen(fd, 16) == 0, "listen");
    FUZZ_CHECK(server.Adopt(fd).ok(), "adopt");
    server.Start();
    io = std::thread([this] {
      auto guard = boost::asio::make_work_guard(ioc);
      ioc.run();
    });
  }

  socklen_t AddrLen() const {
    return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 +
                                  std::strlen(addr.sun_path + 1));
  }
};

Harness& TheHarness() {
  static Harness* h = new Harness;
  return *h;
}

// The requests one parser with the server's limits finds in `input`, stopping
// where the server would: at an error, at a header over the limit, at the end
// of the input, or after a request that does not keep the connection alive.
//
// The server's header limit covers the whole header, request line included.
// Beast's header_limit alone is looser (it applies to the request line and to
// the fields separately), so the header's size is checked here as well.
std::vector<Seen> Reference(std::string_view input) {
  const bookd::http::Limits limits;
  std::vector<Seen> out;
  while (!input.empty()) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits.header_bytes_max));
    parser.body_limit(limits.body_bytes_max);
    boost::system::error_code ec;
    std::size_t header_bytes = 0;
    while (!input.empty() && !parser.is_done()) {
      const bool in_header = !parser.is_header_done();
      const std::size_t n = parser.put(boost::asio::buffer(input.data(), input.size()), ec);
      input.remove_prefix(n);
      if (in_header) header_bytes += n;
      if (ec == bhttp::error::need_more && n > 0) continue;
      if (ec) break;
    }
    if (header_bytes > limits.header_bytes_max) break;  // the server's 431
    if (!parser.is_done()) break;
    const auto& req = parser.get();
    out.push_back(
        {std::string(req.method_string()), std::string(req.target()), req.body(), req.version()});
    if (!req.keep_alive()) break;
  }
  return out;
}

// Drains what the server has written so far; false once it has closed.
bool ReadSome(int fd, std::string& into) {
  char buf[16 << 10];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      into.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) return false;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;  // else reset: gone
  }
}

// Waits (bounded) until the server has read everything we sent.
void WaitTaken(int fd, std::string& responses, bool& open) {
  for (int i = 0; i < 20000 && open; ++i) {
    int queued = 0;
    if (::ioctl(fd, SIOCOUTQ, &queued) == 0 && queued == 0) return;
    open = ReadSome(fd, responses);
    if (i < 1000) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(50us);
    }
  }
}

// `seen` are the requests the handler answered, in order; a HEAD response
// has a Content-Length but no body.
void CheckResponses(std::string_view bytes, const std::vector<Seen>& seen) {
  std::size_t ok = 0;
  while (!bytes.empty()) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(1 << 20);
    parser.eager(true);
    if (ok < seen.size() && seen[ok].method == "HEAD") parser.skip(true);
    boost::system::error_code ec;
    const std::size_t n = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
    FUZZ_CHECK(!ec && parser.is_done(), "the server writes complete HTTP responses");
    bytes.remove_prefix(n);
    const auto& res = parser.get();
    const int status = res.result_int();
    FUZZ_CHECK(status == 200 || status == 100 || status == 400 || status == 408 || status == 413 ||
                   status == 431,
               "a status the server may send");
    if (status == 100) continue;
    FUZZ_CHECK(res.count(bhttp::field::content_length) == 1, "Content-Length");
    FUZZ_CHECK(res.count("X-Request-Id") == 1, "X-Request-Id");
    if (status == 200) ++ok;
  }
  FUZZ_CHECK(ok == seen.size(), "one 200 per request the handler saw");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Harness& h = TheHarness();
  if (size < 1) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

  // Piece sizes from a small generator seeded by byte 0.
  std::vector<std::string_view> pieces;
  std::uint32_t state = data[0] * 2654435761u + 1;
  for (std::string_view rest = input; !rest.empty();) {
    state = state * 1103515245u + 12345u;
    std::size_t len = pieces.size() + 1 == kPiecesMax ? rest.size() : 1 + (state >> 16) % 64;
    if (data[0] & 0x80) len = 1 + (state >> 16) % 7;  // tiny pieces: one byte at a time, nearly
    len = std::min(len, rest.size());
    pieces.push_back(rest.substr(0, len));
    rest.remove_prefix(len);
    if (pieces.size() == kPiecesMax && !rest.empty()) {
      pieces.back() = std::string_view(pieces.back().data(), pieces.back().size() + rest.size());
      break;
    }
  }

  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  FUZZ_CHECK(fd >= 0, "socket");
  FUZZ_CHECK(::connect(fd, reinterpret_cast<sockaddr*>(&h.addr), h.AddrLen()) == 0, "connect");

  std::string responses;
  bool open = true;     // the server has not closed its end yet
  bool sending = true;  // false once the server refused more bytes
  for (std::string_view piece : pieces) {
    while (sending && open && !piece.empty()) {
      const ssize_t n = ::send(fd, piece.data(), piece.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        piece.remove_prefix(static_cast<std::size_t>(n));
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        open = ReadSome(fd, responses);
        pollfd p{fd, POLLOUT | POLLIN, 0};
        ::poll(&p, 1, 100);
      } else {
        sending = false;  // the server closed first; its answer may still be unread
      }
    }
    if (!sending) break;
    WaitTaken(fd, responses, open);
  }
  ::shutdown(fd, SHUT_WR);

  const auto deadline = std::chrono::steady_clock::now() + kCloseTimeout;
  while (open) {
    FUZZ_CHECK(std::chrono::steady_clock::now() < deadline, "the server closes the connection");
    pollfd p{fd, POLLIN, 0};
    ::poll(&p, 1, 100);
    open = ReadSome(fd, responses);
  }
  ::close(fd);

  while (h.server.open_connections() != 0) {
    FUZZ_CHECK(std::chrono::steady_clock::now() < deadline, "the connection is released");
    std::this_thread::yield();
  }

  const std::vector<Seen> seen = h.handler.Take();
  const std::vector<Seen> expected = Reference(input);
  FUZZ_CHECK(seen == expected, "pieces change nothing: the handler saw what one parser sees");
  CheckResponses(responses, seen);
  return 0;
}
