// The server over TLS (Server::UseTls) against a blocking TLS client on
// 127.0.0.1: requests and keep-alive work, a refusal is still answered, a
// client that never completes the handshake is cut off at the header
// deadline, and a plain HTTP request gets no HTTP answer. The certificate is
// a fresh self-signed P-256 one written to a temporary directory.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "http/server.h"

namespace bookd::http {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

class EchoHandler : public Handler {
 public:
  void Handle(Request&& req, const std::string&, Respond respond) override {
    Response res{bhttp::status::ok, 11};
    res.body() = "tls " + std::string(req.target());
    respond(std::move(res));
  }
};

// Writes a self-signed certificate for CN=localhost and its key as PEM.
bool WriteSelfSigned(const std::string& cert_path, const std::string& key_path) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  if (!key || !cert) return false;
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) return false;

  std::FILE* f = std::fopen(cert_path.c_str(), "w");
  if (f == nullptr) return false;
  const bool cert_ok = PEM_write_X509(f, cert.get()) == 1;
  std::fclose(f);
  f = std::fopen(key_path.c_str(), "w");
  if (f == nullptr) return false;
  const bool key_ok =
      PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
  std::fclose(f);
  return cert_ok && key_ok;
}

void SetReceiveTimeout(tcp::socket& s) {
  timeval tv{};
  tv.tv_sec = 5;
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("bookd_tls_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    cert_ = (dir_ / "server.crt").string();
    key_ = (dir_ / "server.key").string();
    ASSERT_TRUE(WriteSelfSigned(cert_, key_));
  }

  void StartServer(Limits limits = {}) {
    server_ = std::make_unique<Server>(ioc_, handler_, limits);
    auto port = server_->Listen("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.error().detail;
    port_ = *port;
    ASSERT_TRUE(server_->UseTls(cert_, key_).ok());
    server_->Start();
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { ioc_.run(); });
  }

  void TearDown() override {
    ioc_.stop();
    for (auto& t : threads_) t.join();
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  // A client that trusts exactly the test certificate.
  std::unique_ptr<ssl::stream<tcp::socket>> Connect() {
    client_context_.load_verify_file(cert_);
    client_context_.set_verify_mode(ssl::verify_peer);
    auto stream = std::make_unique<ssl::stream<tcp::socket>>(client_ioc_, client_context_);
    stream->next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
    SetReceiveTimeout(stream->next_layer());
    stream->handshake(ssl::stream_base::client);
    return stream;
  }

  std::filesystem::path dir_;
  std::string cert_;
  std::string key_;
  EchoHandler handler_;
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{ioc_.get_executor()};
  std::unique_ptr<Server> server_;
  std::vector<std::thread> threads_;
  std::uint16_t port_ = 0;
  asio::io_context client_ioc_;
  ssl::context client_context_{ssl::context::tls_client};
};

TEST_F(TlsTest, RequestsOverTlsWithKeepAlive) {
  StartServer();
  auto stream = Connect();
  beast::flat_buffer buffer;
  for (const std::string target : {"/a", "/b"}) {
    Request req{bhttp::verb::get, target, 11};
    req.set(bhttp::field::host, "localhost");
    bhttp::write(*stream, req);
    Response res;
    bhttp::read(*stream, buffer, res);
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_EQ(res.body(), "tls " + target);
    EXPECT_TRUE(res.keep_alive());
    EXPECT_FALSE(res["X-Request-Id"].empty());
  }
}

TEST_F(TlsTest, RefusalIsAnsweredOverTls) {
  StartServer();
  auto stream = Connect();
  const std::string request =
      "GET / HTTP/1.1\r\nHost: t\r\nX-Fill: " + std::string(20 << 10, 'a') + "\r\n\r\n";
  boost::system::error_code ec;
  asio::write(*stream, asio::buffer(request), ec);
  beast::flat_buffer buffer;
  Response res;
  bhttp::read(*stream, buffer, res, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(res.result_int(), 431u);
  EXPECT_FALSE(res.keep_alive());
}

TEST_F(TlsTest, ClientThatNeverHandshakesIsClosedAtTheHeaderDeadline) {
  Limits limits;
  limits.header_timeout_s = 1;
  StartServer(limits);
  tcp::socket socket(client_ioc_);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
  SetReceiveTimeout(socket);  // 5 s: longer than the 1 s deadline
  char byte = 0;
  const ssize_t n = ::recv(socket.native_handle(), &byte, 1, 0);
  EXPECT_EQ(n, 0) << "expected the server's close, got errno " << errno;
  for (int i = 0; i < 200 && server_->open_connections() != 0; ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(server_->open_connections(), 0u);
}

TEST_F(TlsTest, PlainHttpGetsNoHttpAnswer) {
  StartServer();
  tcp::socket socket(client_ioc_);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
  SetReceiveTimeout(socket);
  boost::system::error_code ec;
  asio::write(socket, asio::buffer(std::string("GET / HTTP/1.1\r\nHost: t\r\n\r\n")), ec);
  std::string received;
  char buf[4096];
  for (int i = 0; i < 100; ++i) {
    const ssize_t n = ::recv(socket.native_handle(), buf, sizeof(buf), 0);
    if (n <= 0) break;
    received.append(buf, static_cast<std::size_t>(n));
  }
  EXPECT_NE(received.rfind("HTTP/", 0), 0u) << received;
}

TEST(TlsContextTest, MismatchedKeyIsAnError) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("bookd_tls_mismatch_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string a_cert = (dir / "a.crt").string(), a_key = (dir / "a.key").string();
  const std::string b_cert = (dir / "b.crt").string(), b_key = (dir / "b.key").string();
  ASSERT_TRUE(WriteSelfSigned(a_cert, a_key));
  ASSERT_TRUE(WriteSelfSigned(b_cert, b_key));
  EXPECT_TRUE(MakeTlsContext(a_cert, a_key).ok());
  auto mismatched = MakeTlsContext(a_cert, b_key);
  ASSERT_FALSE(mismatched.ok());
  EXPECT_NE(mismatched.error().detail.find("b.key"), std::string::npos)
      << mismatched.error().detail;
  EXPECT_FALSE(MakeTlsContext((dir / "missing.crt").string(), a_key).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace bookd::http
