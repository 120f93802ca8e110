// The HTTP server against real sockets on 127.0.0.1. The client side is a
// blocking socket with a receive timeout, so that a server that fails to
// answer or to close makes a test fail instead of hang; raw bytes let the
// tests send what no well-behaved client library would.
#include "http/server.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/parser.hpp>
#include <cerrno>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace bookd::http {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// Answers "<METHOD> <target>" as text, synchronously, and remembers the
// request ids it was given.
class EchoHandler : public Handler {
 public:
  void Handle(Request&& req, const std::string& request_id, Respond respond) override {
    {
      std::lock_guard lock(mu_);
      ids_.push_back(request_id);
    }
    Response res{bhttp::status::ok, 11};
    res.set(bhttp::field::content_type, "text/plain");
    res.body() = std::string(req.method_string()) + " " + std::string(req.target());
    if (!req.body().empty()) res.body() += " " + req.body();
    respond(std::move(res));
  }

  std::vector<std::string> ids() {
    std::lock_guard lock(mu_);
    return ids_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> ids_;
};

// Answers from a thread of its own after a delay: 300 ms for targets that
// start with "/slow", 20 ms otherwise.
class LaterHandler : public Handler {
 public:
  explicit LaterHandler(const Server* const* server = nullptr) : server_(server) {}
  ~LaterHandler() override {
    for (auto& t : threads_) t.join();
  }

  void Handle(Request&& req, const std::string&, Respond respond) override {
    const std::string target(req.target());
    std::lock_guard lock(mu_);
    threads_.emplace_back([this, target, respond = std::move(respond)] {
      std::this_thread::sleep_for(target.rfind("/slow", 0) == 0 ? 300ms : 20ms);
      if (server_ != nullptr && *server_ != nullptr) in_flight_seen_ = (*server_)->in_flight();
      Response res{bhttp::status::ok, 11};
      res.body() = "later " + target;
      respond(std::move(res));
    });
  }

  std::size_t in_flight_seen() const { return in_flight_seen_; }

 private:
  const Server* const* server_;
  std::atomic<std::size_t> in_flight_seen_{0};
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

// Throws for "/throw", echoes otherwise.
class ThrowingHandler : public EchoHandler {
 public:
  void Handle(Request&& req, const std::string& request_id, Respond respond) override {
    if (req.target() == "/throw") throw std::runtime_error("handler bug");
    EchoHandler::Handle(std::move(req), request_id, std::move(respond));
  }
};

class Client {
 public:
  // `source` picks the client's address (any of 127.0.0.0/8 reaches the
  // server), for the per-address cap.
  explicit Client(std::uint16_t port, const char* source = nullptr) : socket_(ioc_) {
    if (source != nullptr) {
      socket_.open(tcp::v4());
      socket_.bind(tcp::endpoint(asio::ip::make_address(source), 0));
    }
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    timeval tv{};
    tv.tv_sec = 5;
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }

  void Send(std::string_view data) {
    boost::system::error_code ec;
    asio::write(socket_, asio::buffer(data), ec);
  }

  // One response, or nothing if the connection closed or the timeout passed.
  std::optional<Response> Read() {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.eager(true);
    for (int turns = 0; turns < 10000; ++turns) {
      if (!pending_.empty()) {
        boost::system::error_code ec;
        const std::size_t n = parser.put(asio::buffer(pending_), ec);
        pending_.erase(0, n);
        if (ec && ec != bhttp::error::need_more) return std::nullopt;
        if (parser.is_done()) return parser.release();
        if (!ec && n > 0) continue;
      }
      if (!Receive()) return std::nullopt;
    }
    return std::nullopt;
  }

  // True when the server closes (EOF or reset) before the receive timeout;
  // bytes that arrive meanwhile are kept in `pending_`.
  bool WaitClosed() {
    for (int turns = 0; turns < 10000; ++turns) {
      if (!Receive()) return errno_ == 0 || errno_ == ECONNRESET;
    }
    return false;
  }

  const std::string& pending() const { return pending_; }

 private:
  bool Receive() {
    char buf[8192];
    const ssize_t n = ::recv(socket_.native_handle(), buf, sizeof(buf), 0);
    errno_ = n < 0 ? errno : 0;
    if (n <= 0) return false;
    pending_.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  asio::io_context ioc_;
  tcp::socket socket_;
  std::string pending_;
  int errno_ = 0;
};

std::string Get(const std::string& target, const std::string& extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: test\r\n" + extra + "\r\n";
}

rapidjson::Document ParseJson(const std::string& body) {
  rapidjson::Document d;
  d.Parse(body.c_str(), body.size());
  EXPECT_FALSE(d.HasParseError()) << body;
  return d;
}

std::string ProblemType(const Response& res) {
  auto d = ParseJson(res.body());
  if (!d.IsObject() || !d.HasMember("type")) return "";
  EXPECT_EQ(d["status"].GetInt(), res.result_int());
  return d["type"].GetString();
}

class ServerTest : public ::testing::Test {
 protected:
  void StartServer(Handler& handler, Limits limits = {}) {
    server_ = std::make_unique<Server>(ioc_, handler, limits);
    auto port = server_->Listen("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.error().detail;
    port_ = *port;
    ASSERT_NE(port_, 0);
    server_->Start();
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { ioc_.run(); });
  }

  void TearDown() override {
    ioc_.stop();
    for (auto& t : threads_) t.join();
    server_.reset();
  }

  // On a new connection, sends `raw` and expects one problem response with
  // `status` and `type` that announces the close, and then the close.
  void ExpectRefusal(const std::string& raw, int status, const std::string& type) {
    Client client(port_);
    client.Send(raw);
    auto res = client.Read();
    ASSERT_TRUE(res.has_value());
    EXPECT_EQ(res->result_int(), status);
    EXPECT_EQ((*res)[bhttp::field::content_type], "application/problem+json");
    EXPECT_EQ(ProblemType(*res), type);
    EXPECT_FALSE((*res)["X-Request-Id"].empty());
    EXPECT_FALSE(res->keep_alive());
    EXPECT_TRUE(client.WaitClosed());
  }

  // Polls `done` for up to five seconds.
  template <class F>
  bool Eventually(F done) {
    for (int i = 0; i < 500; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{ioc_.get_executor()};
  std::unique_ptr<Server> server_;
  std::vector<std::thread> threads_;
  std::uint16_t port_ = 0;
};

TEST_F(ServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  EchoHandler handler;
  StartServer(handler);
  Client client(port_);

  for (const std::string target : {"/a", "/b", "/c"}) {
    client.Send(Get(target));
    auto res = client.Read();
    ASSERT_TRUE(res.has_value()) << target;
    EXPECT_EQ(res->result_int(), 200);
    EXPECT_EQ(res->body(), "GET " + target);
    EXPECT_EQ(res->version(), 11u);
    EXPECT_TRUE(res->keep_alive());
    EXPECT_EQ((*res)[bhttp::field::content_length], std::to_string(res->body().size()));
  }
  EXPECT_EQ(server_->open_connections(), 1u);
  EXPECT_EQ(handler.ids().size(), 3u);
}

TEST_F(ServerTest, PostBodyReachesHandler) {
  EchoHandler handler;
  StartServer(handler);
  Client client(port_);
  client.Send(
      "POST /v1/x HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n3\r\n\":1\r\n1\r\n}\r\n0\r\n\r\n");
  auto res = client.Read();
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->body(), "POST /v1/x {\"a\":1}");
}

TEST_F(ServerTest, ExpectContinueGetsInterimResponse) {
  EchoHandler handler;
  StartServer(handler);
  Client client(port_);
  client.Send("POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  auto interim = client.Read();
  ASSERT_TRUE(interim.has_value());
  EXPECT_EQ(interim->result_int(), 100);

  client.Send("hello");
  auto res = client.Read();
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->result_int(), 200);
  EXPECT_EQ(res->body(), "POST /x hello");
}

TEST_F(ServerTest, RequestIdIsEchoedOrGenerated) {
  EchoHandler handler;
  StartServer(handler);
  Client client(port_);

  client.Send(Get("/", "X-Request-Id: client-id-42\r\n"));
  auto echoed = client.Read();
  ASSERT_TRUE(echoed.has_value());
  EXPECT_EQ((*echoed)["X-Request-Id"], "client-id-42");

  client.Send(Get("/"));
  auto first = client.Read();
  client.Send(Get("/", "X-Request-Id: " + std::string(129, 'x') + "\r\n"));
  auto too_long = client.Read();
  ASSERT_TRUE(first.has_value() && too_long.has_value());
  const std::string id1((*first)["X-Request-Id"]);
  const std::string id2((*too_long)["X-Request-Id"]);
  EXPECT_FALSE(id1.empty());
  EXPECT_FALSE(id2.empty());
  EXPECT_NE(id1, id2);
  EXPECT_NE(id2, std::string(129, 'x'));

  const auto ids = handler.ids();
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0], "client-id-42");
  EXPECT_EQ(ids[1], id1);
  EXPECT_EQ(ids[2], id2);
}

TEST_F(ServerTest, HandlerMayRespondLaterFromAnotherThread) {
  const Server* server = nullptr;
  LaterHandler handler(&server);
  StartServer(handler);
  server = server_.get();
  Client client(port_);

  for (const std::string target : {"/slow/1", "/two"}) {
    client.Send(Get(target));
    auto res = client.Read();
    ASSERT_TRUE(res.has_value());
    EXPECT_EQ(res->body(), "later " + target);
    EXPECT_FALSE((*res)["X-Request-Id"].empty());
  }
  EXPECT_EQ(handler.in_flight_seen(), 1u);
  EXPECT_TRUE(Eventually([&] { return server_->in_flight() == 0; }));
}

TEST_F(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  LaterHandler handler;
  StartServer(handler);
  Client client(port_);

  client.Send(Get("/slow/first") + Get("/second") + Get("/third"));
  for (const std::string target : {"/slow/first", "/second", "/third"}) {
    auto res = client.Read();
    ASSERT_TRUE(res.has_value()) << target;
    EXPECT_EQ(res->body(), "later " + target);
  }
}

TEST_F(ServerTest, OversizedContentLengthIs413BeforeTheBody) {
  EchoHandler handler;
  StartServer(handler);
  ExpectRefusal(
      "POST /v1/bookings HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
      "Content-Length: 2097152\r\n\r\n",
      413, "/problems/payload_too_large");
  EXPECT_TRUE(handler.ids().empty());
}

TEST_F(ServerTest, OversizedChunkedBodyIs413) {
  EchoHandler handler;
  Limits limits;
  limits.body_bytes_max = 1000;
  StartServer(handler, limits);
  std::string request = "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) request += "190\r\n" + std::string(400, 'x') + "\r\n";
  ExpectRefusal(request, 413, "/problems/payload_too_large");
  EXPECT_TRUE(handler.ids().empty());
}

TEST_F(ServerTest, OversizedHeadersAre431) {
  EchoHandler handler;
  StartServer(handler);
  ExpectRefusal(Get("/", "X-Fill: " + std::string(20 << 10, 'a') + "\r\n"), 431,
                "/problems/request_header_fields_too_large");
}

// Many small fields of about 100 bytes each. Sent as 15,000 bytes, a pause and
// the rest, the server parses the fields of the first read and then sees less
// than the limit unparsed: only a count across reads catches the total.
std::string ManyFields(int count) {
  std::string fields;
  for (int i = 0; i < count; ++i) {
    const std::string name = "X-Field-" + std::to_string(i) + ": ";
    fields += name + std::string(100 - name.size() - 2, 'v') + "\r\n";
  }
  return fields;
}

void SendInTwo(Client& client, const std::string& request) {
  constexpr std::size_t kFirst = 15000;
  client.Send(request.substr(0, kFirst));
  std::this_thread::sleep_for(50ms);
  client.Send(request.substr(kFirst));
}

TEST_F(ServerTest, ManySmallHeaderFieldsOverTheLimitAre431) {
  EchoHandler handler;
  StartServer(handler);
  const std::string request = Get("/", ManyFields(200));  // about 20 KiB
  Client client(port_);
  SendInTwo(client, request);
  auto res = client.Read();
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->result_int(), 431);
  EXPECT_EQ(ProblemType(*res), "/problems/request_header_fields_too_large");
  EXPECT_FALSE(res->keep_alive());
  EXPECT_TRUE(client.WaitClosed());
  EXPECT_TRUE(handler.ids().empty());
}

TEST_F(ServerTest, ManySmallHeaderFieldsUnderTheLimitAreServed) {
  EchoHandler handler;
  StartServer(handler);
  const std::string request = Get("/under", ManyFields(150));  // about 15 KiB
  ASSERT_LT(request.size(), Limits{}.header_bytes_max);
  Client client(port_);
  SendInTwo(client, request);
  auto res = client.Read();
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->result_int(), 200);
  EXPECT_EQ(res->body(), "GET /under");
}

TEST_F(ServerTest, StalledHeaderIs408AndClosed) {
  EchoHandler handler;
  Limits limits;
  limits.header_timeout_s = 1;
  StartServer(handler, limits);
  ExpectRefusal("GET / HTTP/1.1\r\nHost: te", 408, "/problems/request_timeout");
  EXPECT_TRUE(Eventually([&] { return server_->open_connections() == 0; }));
}

TEST_F(ServerTest, StalledBodyIs408) {
  EchoHandler handler;
  Limits limits;
  limits.body_timeout_s = 1;
  StartServer(handler, limits);
  ExpectRefusal("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc", 408,
                "/problems/request_timeout");
  EXPECT_TRUE(handler.ids().empty());
}

TEST_F(ServerTest, GarbageIs400AndClosed) {
  EchoHandler handler;
  StartServer(handler);
  ExpectRefusal("HELLO\x01 WORLD\r\n\r\n", 400, "/problems/bad_request");
}

TEST_F(ServerTest, ContentLengthWithTransferEncodingIs400AndClosed) {
  EchoHandler handler;
  StartServer(handler);
  ExpectRefusal(
      "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\n",
      400, "/problems/bad_request");
  EXPECT_TRUE(handler.ids().empty());
}

TEST_F(ServerTest, IdleKeepAliveConnectionIsClosedSilently) {
  EchoHandler handler;
  Limits limits;
  limits.idle_timeout_s = 1;
  StartServer(handler, limits);
  Client client(port_);

  client.Send(Get("/"));
  ASSERT_TRUE(client.Read().has_value());
  EXPECT_TRUE(client.WaitClosed());
  EXPECT_TRUE(client.pending().empty()) << client.pending();
}

TEST_F(ServerTest, SilentNewConnectionIsClosedWithoutAnswer) {
  EchoHandler handler;
  Limits limits;
  limits.header_timeout_s = 1;
  StartServer(handler, limits);
  Client client(port_);

  EXPECT_TRUE(client.WaitClosed());
  EXPECT_TRUE(client.pending().empty()) << client.pending();
}

TEST_F(ServerTest, Http10WithoutKeepAliveIsClosedAfterTheResponse) {
  EchoHandler handler;
  StartServer(handler);
  Client client(port_);

  client.Send("GET /old HTTP/1.0\r\n\r\n");
  auto res = client.Read();
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->version(), 10u);
  EXPECT_EQ(res->body(), "GET /old");
  EXPECT_TRUE(client.WaitClosed());
}

TEST_F(ServerTest, ConnectionsOverTheCapAreClosed) {
  EchoHandler handler;
  Limits limits;
  limits.connections_max = 1;
  StartServer(handler, limits);
  Client first(port_);
  first.Send(Get("/"));
  ASSERT_TRUE(first.Read().has_value());

  Client second(port_);
  EXPECT_TRUE(second.WaitClosed());

  first.Send(Get("/again"));
  auto res = first.Read();
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->body(), "GET /again");
}

TEST_F(ServerTest, ConnectionsOverThePerAddressCapAreClosed) {
  EchoHandler handler;
  Limits limits;
  limits.connections_per_address_max = 2;
  StartServer(handler, limits);
  Client first(port_, "127.0.0.1");
  Client second(port_, "127.0.0.1");
  for (Client* c : {&first, &second}) {
    c->Send(Get("/"));
    ASSERT_TRUE(c->Read().has_value());
  }

  Client third(port_, "127.0.0.1");
  EXPECT_TRUE(third.WaitClosed());
  EXPECT_TRUE(third.pending().empty());

  Client other(port_, "127.0.0.2");
  other.Send(Get("/other"));
  auto res = other.Read();
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->body(), "GET /other");

  // A closed connection frees its address's slot.
  first.Send(Get("/", "Connection: close\r\n"));
  ASSERT_TRUE(first.Read().has_value());
  ASSERT_TRUE(first.WaitClosed());
  ASSERT_TRUE(Eventually([&] { return server_->open_connections() == 2; }));
  Client fourth(port_, "127.0.0.1");
  fourth.Send(Get("/fourth"));
  res = fourth.Read();
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->body(), "GET /fourth");
}

TEST_F(ServerTest, DrainClosesIdleConnectionsAndFinishesInFlightOnes) {
  LaterHandler handler;
  StartServer(handler);
  Client idle(port_);
  idle.Send(Get("/warm"));
  ASSERT_TRUE(idle.Read().has_value());
  // The server counts a request in flight until its write completes, which
  // may be after the client has read the answer: wait for that, so that the
  // count below is the busy request's and not the warm-up's.
  ASSERT_TRUE(Eventually([&] { return server_->in_flight() == 0; }));
  Client busy(port_);
  busy.Send(Get("/slow/busy"));
  ASSERT_TRUE(Eventually([&] { return server_->in_flight() == 1; }));

  std::atomic<bool> drained{false};
  server_->Drain(5s, [&] { drained = true; });

  EXPECT_TRUE(idle.WaitClosed());
  EXPECT_TRUE(idle.pending().empty());
  auto res = busy.Read();
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->body(), "later /slow/busy");
  EXPECT_FALSE(res->keep_alive());
  EXPECT_TRUE(busy.WaitClosed());
  EXPECT_TRUE(Eventually([&] { return drained.load(); }));
  EXPECT_EQ(server_->open_connections(), 0u);
}

TEST_F(ServerTest, DrainAnswersTheFirstRequestOfAFreshConnection) {
  EchoHandler handler;
  StartServer(handler);
  Client used(port_);
  used.Send(Get("/warm"));
  ASSERT_TRUE(used.Read().has_value());
  Client fresh(port_);
  ASSERT_TRUE(Eventually([&] { return server_->open_connections() == 2; }));

  std::atomic<bool> drained{false};
  server_->Drain(5s, [&] { drained = true; });

  // The used, idle connection is closed; the fresh one still gets its answer.
  EXPECT_TRUE(used.WaitClosed());
  fresh.Send(Get("/late"));
  auto res = fresh.Read();
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->body(), "GET /late");
  EXPECT_FALSE(res->keep_alive());
  EXPECT_TRUE(fresh.WaitClosed());
  EXPECT_TRUE(Eventually([&] { return drained.load(); }));
}

TEST_F(ServerTest, DrainClosesByForceWhenGraceRunsOut) {
  LaterHandler handler;
  StartServer(handler);
  Client busy(port_);
  busy.Send(Get("/slow/busy"));
  ASSERT_TRUE(Eventually([&] { return server_->in_flight() == 1; }));

  std::atomic<bool> drained{false};
  server_->Drain(10ms, [&] { drained = true; });

  EXPECT_TRUE(busy.WaitClosed());
  EXPECT_TRUE(busy.pending().empty()) << busy.pending();
  EXPECT_TRUE(Eventually([&] { return drained.load(); }));
  EXPECT_EQ(server_->open_connections(), 0u);
}

TEST_F(ServerTest, ThrowingHandlerCostsOnlyItsConnection) {
  ThrowingHandler handler;
  StartServer(handler);
  Client bad(port_);
  bad.Send(Get("/throw"));
  EXPECT_TRUE(bad.WaitClosed());
  EXPECT_TRUE(Eventually([&] { return server_->open_connections() == 0; }));

  Client good(port_);
  good.Send(Get("/fine"));
  auto res = good.Read();
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->body(), "GET /fine");
}

TEST_F(ServerTest, ListenReportsBindFailure) {
  EchoHandler handler;
  StartServer(handler);
  Server other(ioc_, handler, Limits{});
  auto result = other.Listen("127.0.0.1", port_);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().detail.find("bind"), std::string::npos) << result.error().detail;
}

}  // namespace
}  // namespace bookd::http
