#include "api_client.h"

#include <rapidjson/document.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace bookd::bench {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

constexpr std::uint64_t kBodyLimitBytes = 256ull << 20;
constexpr int kSocketTimeout_s = 60;

}  // namespace

ApiClient::ApiClient(std::string host, std::uint16_t port, std::string api_key)
    : host_(std::move(host)), port_(port), api_key_(std::move(api_key)) {}

bool ApiClient::Connect(std::string* error) {
  boost::system::error_code ec;
  socket_.close(ec);
  buffer_.clear();
  tcp::resolver resolver(io_);
  auto endpoints = resolver.resolve(host_, std::to_string(port_), ec);
  if (!ec) asio::connect(socket_, endpoints, ec);
  if (ec) {
    *error = "connect to " + host_ + ":" + std::to_string(port_) + ": " + ec.message();
    return false;
  }
  // Blocking reads get a bound through the kernel, so a stuck server cannot hang the check.
  timeval timeout{kSocketTimeout_s, 0};
  ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  return true;
}

std::optional<HttpAnswer> ApiClient::Send(std::string_view method, std::string_view target,
                                          std::string_view json_body, std::string* error) {
  const boost::beast::string_view method_text(method.data(), method.size());
  const boost::beast::string_view target_text(target.data(), target.size());
  http::request<http::string_body> req{http::string_to_verb(method_text), target_text, 11};
  req.set(http::field::host, host_);
  if (!api_key_.empty()) req.set(http::field::authorization, "Bearer " + api_key_);
  if (!json_body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = std::string(json_body);
  }
  req.prepare_payload();

  constexpr int kAttempts = 2;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    if (!socket_.is_open() && !Connect(error)) return std::nullopt;
    boost::system::error_code ec;
    http::write(socket_, req, ec);
    http::response_parser<http::string_body> parser;
    parser.body_limit(kBodyLimitBytes);
    if (!ec) http::read(socket_, buffer_, parser, ec);
    if (ec) {
      // A kept-alive connection the server closed in between is worth one retry; these
      // requests are either reads or creations of resources with fixed ids (409 on replay).
      *error = std::string(method) + " " + std::string(target) + ": " + ec.message();
      socket_.close(ec);
      continue;
    }
    auto response = parser.release();
    if (!response.keep_alive()) socket_.close(ec);
    return HttpAnswer{static_cast<int>(response.result_int()), std::move(response.body())};
  }
  return std::nullopt;
}

bool ApiClient::CreateResource(const std::string& id, std::int64_t capacity, std::string* error) {
  const std::string body = "{\"id\":\"" + id + "\",\"name\":\"loadgen " + id +
                           "\",\"capacity\":" + std::to_string(capacity) + "}";
  auto answer = Send("POST", "/v1/resources", body, error);
  if (!answer) return false;
  if (answer->status != 201) {
    *error = "POST /v1/resources " + id + ": status " + std::to_string(answer->status) + ": " +
             answer->body.substr(0, 300);
    return false;
  }
  return true;
}

std::optional<std::vector<ListedBooking>> ApiClient::ListBookings(const std::string& resource_id,
                                                                  std::string* error,
                                                                  int max_pages) {
  std::vector<ListedBooking> bookings;
  std::string cursor;
  for (int page = 0; page < max_pages; ++page) {
    std::string target = "/v1/bookings?limit=1000";
    if (!resource_id.empty()) target += "&resource_id=" + UrlEncode(resource_id);
    if (!cursor.empty()) target += "&cursor=" + UrlEncode(cursor);
    auto answer = Send("GET", target, "", error);
    if (!answer) return std::nullopt;
    if (answer->status != 200) {
      *error = "GET " + target + ": status " + std::to_string(answer->status) + ": " +
               answer->body.substr(0, 300);
      return std::nullopt;
    }
    auto next = ParseBookingPage(answer->body, &bookings, error);
    if (!next) return std::nullopt;
    if (next->empty()) return bookings;
    cursor = std::move(*next);
  }
  *error =
      "GET /v1/bookings for " + resource_id + ": more than " + std::to_string(max_pages) + " pages";
  return std::nullopt;
}

std::optional<std::string> ParseBookingPage(std::string& body, std::vector<ListedBooking>* out,
                                            std::string* error) {
  rapidjson::Document doc;
  doc.ParseInsitu(body.data());
  if (doc.HasParseError() || !doc.IsObject()) {
    *error = "booking page is not a JSON object";
    return std::nullopt;
  }
  auto data = doc.FindMember("data");
  auto next = doc.FindMember("next_cursor");
  if (data == doc.MemberEnd() || !data->value.IsArray() || next == doc.MemberEnd() ||
      !(next->value.IsString() || next->value.IsNull())) {
    *error = "booking page lacks data[] or next_cursor";
    return std::nullopt;
  }

  for (const auto& b : data->value.GetArray()) {
    ListedBooking booking;
    auto id = b.FindMember("id");
    auto status = b.FindMember("status");
    auto items = b.FindMember("items");
    if (!b.IsObject() || id == b.MemberEnd() || !id->value.IsString() || status == b.MemberEnd() ||
        !status->value.IsString() || items == b.MemberEnd() || !items->value.IsArray()) {
      *error = "a listed booking lacks id, status or items";
      return std::nullopt;
    }
    booking.id.assign(id->value.GetString(), id->value.GetStringLength());
    booking.status.assign(status->value.GetString(), status->value.GetStringLength());
    for (const auto& i : items->value.GetArray()) {
      auto rid = i.FindMember("resource_id");
      auto start = i.FindMember("start");
      auto end = i.FindMember("end");
      auto quantity = i.FindMember("quantity");
      if (rid == i.MemberEnd() || !rid->value.IsString() || start == i.MemberEnd() ||
          !start->value.IsString() || end == i.MemberEnd() || !end->value.IsString() ||
          quantity == i.MemberEnd() || !quantity->value.IsInt64()) {
        *error = "booking " + booking.id + " has an item without resource_id/start/end/quantity";
        return std::nullopt;
      }
      auto start_s = ParseUtcSeconds(start->value.GetString());
      auto end_s = ParseUtcSeconds(end->value.GetString());
      if (!start_s || !end_s) {
        *error = "booking " + booking.id + " has an item time that is not YYYY-MM-DDTHH:MM:SSZ";
        return std::nullopt;
      }
      booking.items.push_back({std::string(rid->value.GetString(), rid->value.GetStringLength()),
                               *start_s, *end_s, quantity->value.GetInt64()});
    }
    out->push_back(std::move(booking));
  }
  if (next->value.IsNull()) return std::string();
  return std::string(next->value.GetString(), next->value.GetStringLength());
}

std::string UrlEncode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (unsigned char c : value) {
    const bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '_' || c == '.' || c == '~';
    if (plain) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace bookd::bench
