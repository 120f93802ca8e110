// Small, strict helpers for the HTTP surface: percent-decoding, query strings,
// media types, entity tags and opaque cursors. Everything here is pure.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace bookd::api {

// Decodes %XX escapes (and '+' as a space when `plus_is_space`, as query
// strings use it). nullopt when an escape is malformed.
std::optional<std::string> PercentDecode(std::string_view s, bool plus_is_space);

// Splits a request target into its path and its query (without '?').
void SplitTarget(std::string_view target, std::string_view& path, std::string_view& query);

// Decoded query parameters. 400 for a malformed escape, 422 (parameter) for a
// parameter given twice. At most kQueryParamsMax parameters.
inline constexpr std::size_t kQueryParamsMax = 32;
Result<std::map<std::string, std::string>> ParseQuery(std::string_view query);

// True for "application/json", any case, with optional parameters; a charset
// parameter other than utf-8 is refused because the contract is UTF-8 only.
bool IsJsonMediaType(std::string_view content_type);

// ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$, the contract's id syntax.
bool IsValidId(std::string_view id);

// Printable ASCII, 1 to 255 characters (Idempotency-Key).
bool IsValidIdempotencyKey(std::string_view key);

// The entity tags of an If-Match / If-None-Match header. Our tags are the
// version as a quoted decimal; tags that are not ours are kept as "foreign"
// so that they never match.
struct EntityTags {
  bool any = false;                  // "*"
  std::vector<std::int64_t> strong;  // "3"
  std::vector<std::int64_t> weak;    // W/"3"
};
// 400 when the header is not a list of entity tags (e.g. `3` unquoted).
Result<EntityTags> ParseEntityTags(std::string_view header);

// `"3"`.
std::string ETagOf(std::int64_t version);

// Opaque cursors: the hex of a one-letter kind and a payload, so that a
// cursor of one listing is refused by another.
std::string EncodeCursor(char kind, std::string_view payload);
std::optional<std::string> DecodeCursor(char kind, std::string_view cursor);

// ASCII case-insensitive equality.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// Number of Unicode code points of valid UTF-8.
std::size_t CodePoints(std::string_view utf8);

}  // namespace bookd::api
