// Strict JSON input. Bodies are parsed iteratively (no recursion, so deep
// nesting cannot overflow a stack) with UTF-8 validation, and then refused
// when RapidJSON alone would let them through:
//  - nesting deeper than kJsonDepthMax (400): nothing we accept is that deep,
//    and the DOM is later serialized recursively (metadata);
//  - a NUL character in any string or member name (400);
//  - an object with the same member name twice (400 "duplicate member"):
//    which one wins is unspecified across parsers, so we do not guess.
// Then the request's fields are read against the contract's tables. Every
// violation is collected (422, one FieldError with a JSON Pointer each), so
// a client sees all of its mistakes at once. Unknown members are refused too:
// a typo such as "hold_second" must not be silently ignored.
#pragma once

#include <rapidjson/document.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "domain/availability.h"
#include "domain/model.h"
#include "storage/store.h"

namespace bookd::api {

inline constexpr int kJsonDepthMax = 64;
inline constexpr std::size_t kMetadataBytesMax = 16 * 1024;
inline constexpr std::size_t kNameCodePointsMax = 200;
inline constexpr std::size_t kCustomerCodePointsMax = 200;
inline constexpr std::size_t kItemsMax = domain::kBookingItemsMax;
inline constexpr std::int64_t kCapacityMax = 1000000000;
inline constexpr std::int64_t kItemSecondsMax = 366 * 86400;
inline constexpr std::int64_t kHoldSecondsMax = 86400;
inline constexpr std::size_t kSpansPerDayMax = 96;
inline constexpr std::size_t kClosuresMax = 1000;
inline constexpr std::size_t kSearchResourcesMax = 10000;
inline constexpr std::int64_t kSlotLimitMax = 10000;

// Holds the value pool of a RequestDocument; a base class so that it is
// built before the Document that allocates from it.
class RequestDocumentPool {
 protected:
  static constexpr std::size_t kInlineBytes = 2048;
  static constexpr std::size_t kSpillChunkBytes = 16 * 1024;
  static constexpr std::size_t kStackBytes = 512;

  RequestDocumentPool() : pool_(inline_, sizeof inline_, kSpillChunkBytes) {}

  alignas(std::max_align_t) char inline_[kInlineBytes];
  rapidjson::MemoryPoolAllocator<> pool_;
};

// The document one request body is parsed into. Its values come first from a
// buffer inside the object, so a body such as a booking's or a resource's is
// parsed without taking memory from the heap for them; a larger one spills
// into 16 KiB chunks. A default Document takes a 64 KiB chunk and a 1 KiB
// stack from malloc for every request, and allocations of that size make
// glibc consolidate its free lists at the malloc and again at the free.
// Lives on the stack of one handler; neither copied nor moved.
class RequestDocument : private RequestDocumentPool, public rapidjson::Document {
 public:
  RequestDocument() : rapidjson::Document(&pool_, kStackBytes) {}
  RequestDocument(const RequestDocument&) = delete;
  RequestDocument& operator=(const RequestDocument&) = delete;
};

// Parses `body` into `doc` with the rules above; 400 kBadRequest on failure.
Status ParseStrictJson(std::string_view body, rapidjson::Document& doc);

// "/a~1b" for member "a/b" (RFC 6901).
std::string PointerEscape(std::string_view member);

struct ResourceBody {
  std::optional<std::string> id;
  storage::ResourcePatch fields;
};

// POST /v1/resources (create) and PATCH /v1/resources/{id} (patch). On
// create `name` is required and `id` allowed; on patch every field is
// optional and `id` is refused.
Result<ResourceBody> ReadResourceBody(const rapidjson::Value& doc, bool create);

// The resource a create builds from its body (defaults applied).
domain::Resource ResourceFromBody(ResourceBody body);

Result<storage::CreateBooking> ReadCreateBooking(const rapidjson::Value& doc);
Result<storage::BookingPatch> ReadBookingPatch(const rapidjson::Value& doc);

struct SearchBody {
  std::optional<std::vector<std::string>> resource_ids;
  domain::Interval range;
  std::int64_t duration_s = 0;
  std::int64_t step_s = 0;
  std::int64_t quantity = 1;
  std::int64_t limit_per_resource = 10;
};
Result<SearchBody> ReadSearchBody(const rapidjson::Value& doc);

}  // namespace bookd::api
