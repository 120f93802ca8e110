// The one place where an Error becomes an HTTP problem document (RFC 9457):
// status code, type "/problems/<code>", title, detail and extra members.
#pragma once

#include <string>

#include "common/result.h"

namespace bookd {

int HttpStatus(Errc code);
const char* ProblemCode(Errc code);  // "not_found", ...

// The application/problem+json body for `e`.
std::string ProblemJson(const Error& e);

}  // namespace bookd
