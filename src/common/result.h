// Expected failures travel as values of Result<T>; they are turned into HTTP
// problem documents (RFC 9457) in exactly one place, api/problem.cc.
// Programmer errors are assertions, never Errors.
#pragma once

#include <cassert>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace bookd {

// One code per problem type of the HTTP contract. The HTTP status is derived
// from the code (api/problem.cc), never stored beside it.
enum class Errc {
  kBadRequest,
  kUnauthorized,
  kForbidden,
  kNotFound,
  kMethodNotAllowed,
  kUnavailable,
  kHoldExpired,
  kInvalidTransition,
  kConflict,
  kPreconditionFailed,
  kPayloadTooLarge,
  kUnsupportedMediaType,
  kValidation,
  kIdempotencyKeyReused,
  kPreconditionRequired,
  kTooManyRequests,
  kOverloaded,
  kInternal,
};

// A validation failure located in the request: `pointer` is a JSON Pointer
// into the body, `parameter` names a query parameter; exactly one is set.
struct FieldError {
  std::string pointer;
  std::string parameter;
  std::string detail;
};

// Why one item of a booking could not get its units.
struct ItemConflict {
  int item = 0;
  std::string resource_id;
  std::string reason;  // "capacity" or "closed"
  std::int64_t available = 0;
};

struct Error {
  Errc code = Errc::kInternal;
  std::string detail;
  std::vector<FieldError> errors;       // with kValidation
  std::vector<ItemConflict> conflicts;  // with kUnavailable
  int retry_after_s = 0;                // with kOverloaded / kTooManyRequests

  static Error Validation(std::string pointer, std::string detail) {
    Error e{Errc::kValidation, "the request is not valid", {}, {}, 0};
    e.errors.push_back({std::move(pointer), "", std::move(detail)});
    return e;
  }
  // Not now, through no fault of the request: the client may retry in 1 s.
  static Error Overloaded(std::string detail) {
    return Error{Errc::kOverloaded, std::move(detail), {}, {}, 1};
  }
  static Error Parameter(std::string name, std::string detail) {
    Error e{Errc::kValidation, "a query parameter is not valid", {}, {}, 0};
    e.errors.push_back({"", std::move(name), std::move(detail)});
    return e;
  }
};

inline Error MakeError(Errc code, std::string detail) {
  return Error{code, std::move(detail), {}, {}, 0};
}

// Either a T or an Error. Deliberately small: std::expected is C++23.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const& {
    assert(!ok());
    return std::get<1>(v_);
  }
  Error&& error() && {
    assert(!ok());
    return std::get<1>(std::move(v_));
  }

 private:
  std::variant<T, Error> v_;
};

struct Ok {};
using Status = Result<Ok>;

}  // namespace bookd
