// domain::ParseInstant: any text. An accepted instant must print (UTC, "Z")
// and parse back to itself, so that what the API renders it also accepts.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "domain/time.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using bookd::domain::FormatInstant;
  using bookd::domain::ParseInstant;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  auto t = ParseInstant(text);
  if (!t.ok()) {
    FUZZ_CHECK(!t.error().detail.empty(), "a refusal says why");
    return 0;
  }
  const std::string printed = FormatInstant(*t);
  FUZZ_CHECK(printed.size() == 20 && printed.back() == 'Z', "canonical UTC form");
  auto again = ParseInstant(printed);
  FUZZ_CHECK(again.ok(), "the printed form parses");
  FUZZ_CHECK(*again == *t, "parse(format(parse(x))) == parse(x)");
  return 0;
}
