// The one place where an Error becomes an HTTP problem document (RFC 9457):
// status code, type "/problems/<code>", title, detail and extra members.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace bookd {

int HttpStatus(Errc code);
const char* ProblemCode(Errc code);  // "not_found", ...

// The application/problem+json body for `e`.
std::string ProblemJson(const Error& e);

// Problems the HTTP transport raises before a request reaches the API and for
// which the contract names a status but no Errc (408, 431). `code` becomes
// the type "/problems/<code>"; the server uses "request_timeout" and
// "request_header_fields_too_large".
std::string TransportProblemJson(int status, std::string_view code, std::string_view title,
                                 std::string_view detail);

}  // namespace bookd
