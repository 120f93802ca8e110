// Pagination cursors (api::DecodeCursor) as clients send them back: any text,
// for both listings. A decoded cursor re-encodes to the same cursor (up to
// the case of hex digits) and is refused by the other listing.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "api/http_util.h"
#include "fuzz_check.h"

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using bookd::api::DecodeCursor;
  using bookd::api::EncodeCursor;
  const std::string_view cursor(reinterpret_cast<const char*>(data), size);

  for (char kind : {'r', 'b'}) {
    auto payload = DecodeCursor(kind, cursor);
    if (!payload) continue;
    FUZZ_CHECK(EncodeCursor(kind, *payload) == Lower(cursor), "a decoded cursor re-encodes");
    FUZZ_CHECK(!DecodeCursor(kind == 'r' ? 'b' : 'r', cursor), "a cursor fits one listing");
  }

  // And the other way: whatever payload we encode decodes to itself.
  const std::string_view payload = cursor.substr(0, 127);  // cursors are at most 256 hex digits
  const std::string encoded = EncodeCursor('r', payload);
  auto decoded = DecodeCursor('r', encoded);
  FUZZ_CHECK(decoded && *decoded == payload, "decode(encode(p)) == p");
  return 0;
}
