// Header values a client controls: Idempotency-Key, If-Match/If-None-Match,
// Content-Type and ids in paths. Validators must agree with their stated
// grammar; an accepted entity-tag list renders to one that parses the same.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "api/http_util.h"
#include "fuzz_check.h"

namespace {

bool PrintableAscii(std::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

bool IdGrammar(std::string_view s) {
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (s.empty() || s.size() > 64 || !alnum(s[0])) return false;
  for (char c : s.substr(1)) {
    if (!alnum(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace bookd::api;
  const std::string_view value(reinterpret_cast<const char*>(data), size);

  const bool key_ok = IsValidIdempotencyKey(value);
  FUZZ_CHECK(key_ok == (!value.empty() && value.size() <= 255 && PrintableAscii(value)),
             "Idempotency-Key is 1 to 255 printable ASCII characters");
  FUZZ_CHECK(IsValidId(value) == IdGrammar(value), "ids match the contract's pattern");

  (void)IsJsonMediaType(value);

  auto tags = ParseEntityTags(value);
  if (tags.ok()) {
    std::string again;
    if (tags->any) again = "*";
    for (std::int64_t v : tags->strong) again += (again.empty() ? "" : ", ") + ETagOf(v);
    for (std::int64_t v : tags->weak) again += (again.empty() ? "W/" : ", W/") + ETagOf(v);
    if (!again.empty()) {
      auto reparsed = ParseEntityTags(again);
      FUZZ_CHECK(reparsed.ok(), "rendered tags parse");
      FUZZ_CHECK(reparsed->strong == tags->strong && reparsed->weak == tags->weak,
                 "tags survive rendering");
    }
  }
  return 0;
}
