// Request targets: api::SplitTarget, api::ParseQuery and api::PercentDecode on
// any text. A parsed query is bounded and re-encodes to a query that parses
// to the same parameters.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "api/http_util.h"
#include "fuzz_check.h"

namespace {

std::string Encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace bookd::api;
  const std::string_view target(reinterpret_cast<const char*>(data), size);

  std::string_view path, query;
  SplitTarget(target, path, query);
  FUZZ_CHECK(path.size() + query.size() <= target.size(), "split stays inside the target");
  FUZZ_CHECK(path.find('?') == std::string_view::npos, "the path ends at the first '?'");
  FUZZ_CHECK(query.find('#') == std::string_view::npos, "the fragment is dropped");

  auto decoded_path = PercentDecode(path, false);
  if (decoded_path) FUZZ_CHECK(decoded_path->size() <= path.size(), "decoding never grows");

  auto params = ParseQuery(query);
  if (!params.ok()) return 0;
  FUZZ_CHECK(params->size() <= kQueryParamsMax, "parameters are bounded");

  std::string again;
  for (const auto& [name, value] : *params) {
    if (!again.empty()) again.push_back('&');
    again += Encode(name) + "=" + Encode(value);
  }
  auto reparsed = ParseQuery(again);
  FUZZ_CHECK(reparsed.ok(), "an encoded query parses");
  // "a" and "a=" both mean an empty value, so compare the decoded maps.
  FUZZ_CHECK(*reparsed == *params, "parameters survive re-encoding");
  return 0;
}
