// The seam between the HTTP layer and the API: the server owns sockets,
// parsing, limits and deadlines; a Handler turns one complete request into
// one response, possibly later and from another thread.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <functional>
#include <string>

namespace bookd::http {

namespace bhttp = boost::beast::http;
using Request = bhttp::request<bhttp::string_body>;
using Response = bhttp::response<bhttp::string_body>;

// The method as a metrics label: its name when HTTP knows it, else "OTHER",
// so that clients cannot add label values without bound.
inline std::string MethodLabel(const Request& req) {
  return req.method() == bhttp::verb::unknown ? std::string("OTHER")
                                              : std::string(req.method_string());
}

// Called exactly once per request, from any thread. The server sets
// X-Request-Id, Content-Length, keep-alive and the HTTP version itself.
using Respond = std::function<void(Response)>;

class Handler {
 public:
  virtual ~Handler() = default;
  // The request has passed the server's limits (size, time) and parsed as
  // HTTP. `request_id` is the client's X-Request-Id or a generated one.
  virtual void Handle(Request&& req, const std::string& request_id, Respond respond) = 0;
};

}  // namespace bookd::http
