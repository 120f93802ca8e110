// A blocking HTTP/1.1 client for the load generator's setup and verification steps (creating
// resources, paging through bookings). It is deliberately simple and slow-path only; the load
// itself is driven by the asynchronous connections in loadgen.cc.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "booking_check.h"

namespace bookd::bench {

struct HttpAnswer {
  int status = 0;
  std::string body;
};

class ApiClient {
 public:
  ApiClient(std::string host, std::uint16_t port, std::string api_key);

  // Sends one request, reconnecting once if the kept-alive connection was closed. Returns
  // nullopt and sets *error when no HTTP answer arrived.
  std::optional<HttpAnswer> Send(std::string_view method, std::string_view target,
                                 std::string_view json_body, std::string* error);

  // POST /v1/resources; true on 201.
  bool CreateResource(const std::string& id, std::int64_t capacity, std::string* error);

  // Every booking that lists an item on the resource (every booking when resource_id is
  // empty), following next_cursor. Bounded by max_pages pages of 1000.
  std::optional<std::vector<ListedBooking>> ListBookings(const std::string& resource_id,
                                                         std::string* error,
                                                         int max_pages = 100000);

 private:
  bool Connect(std::string* error);

  std::string host_;
  std::uint16_t port_;
  std::string api_key_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_{io_};
  boost::beast::flat_buffer buffer_;
};

// Parses one page of GET /v1/bookings into *out; returns the next cursor ("" when there is
// none), or nullopt with *error when the page is not what the contract describes.
std::optional<std::string> ParseBookingPage(std::string& body, std::vector<ListedBooking>* out,
                                            std::string* error);

// Percent-encodes a query parameter value.
std::string UrlEncode(std::string_view value);

}  // namespace bookd::bench
