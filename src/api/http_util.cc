#include "api/http_util.h"

#include <cctype>
#include <charconv>

namespace bookd::api {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<std::int64_t> ParseVersion(std::string_view digits) {
  if (digits.empty() || digits.size() > 18) return std::nullopt;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || end != digits.data() + digits.size() || v < 0) return std::nullopt;
  return v;
}

}  // namespace

std::optional<std::string> PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = HexValue(s[i + 1]);
      int lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void SplitTarget(std::string_view target, std::string_view& path, std::string_view& query) {
  std::size_t q = target.find('?');
  if (q == std::string_view::npos) {
    path = target;
    query = {};
  } else {
    path = target.substr(0, q);
    query = target.substr(q + 1);
  }
  // A fragment never reaches a server, but a careless client may send one.
  std::size_t f = query.find('#');
  if (f != std::string_view::npos) query = query.substr(0, f);
}

Result<std::map<std::string, std::string>> ParseQuery(std::string_view query) {
  std::map<std::string, std::string> params;
  std::size_t count = 0;
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    if (++count > kQueryParamsMax) {
      return MakeError(Errc::kBadRequest, "too many query parameters");
    }
    std::size_t eq = part.find('=');
    auto name = PercentDecode(part.substr(0, eq), true);
    auto value = PercentDecode(eq == std::string_view::npos ? "" : part.substr(eq + 1), true);
    if (!name || !value) {
      return MakeError(Errc::kBadRequest, "the query string has a malformed percent-escape");
    }
    if (params.count(*name) != 0) {
      return Error::Parameter(*name, "is given more than once");
    }
    params.emplace(std::move(*name), std::move(*value));
  }
  return params;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

bool IsJsonMediaType(std::string_view content_type) {
  std::size_t semi = content_type.find(';');
  if (!EqualsIgnoreCase(Trim(content_type.substr(0, semi)), "application/json")) return false;
  // Parameters: only a charset matters, and only UTF-8 is spoken.
  std::string_view rest = semi == std::string_view::npos ? "" : content_type.substr(semi + 1);
  for (int n = 0; !rest.empty() && n < 16; ++n) {
    std::size_t next = rest.find(';');
    std::string_view param = Trim(rest.substr(0, next));
    rest = next == std::string_view::npos ? std::string_view() : rest.substr(next + 1);
    std::size_t eq = param.find('=');
    if (eq == std::string_view::npos) continue;
    if (!EqualsIgnoreCase(Trim(param.substr(0, eq)), "charset")) continue;
    std::string_view value = Trim(param.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    if (!EqualsIgnoreCase(value, "utf-8") && !EqualsIgnoreCase(value, "utf8")) return false;
  }
  return true;
}

bool IsValidId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (std::size_t i = 0; i < id.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(id[i]);
    bool alnum = std::isalnum(c) != 0 && c < 0x80;
    if (i == 0 && !alnum) return false;
    if (!alnum && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

bool IsValidIdempotencyKey(std::string_view key) {
  if (key.empty() || key.size() > 255) return false;
  for (char c : key) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

Result<EntityTags> ParseEntityTags(std::string_view header) {
  EntityTags tags;
  std::string_view rest = Trim(header);
  if (rest == "*") {
    tags.any = true;
    return tags;
  }
  Error bad = MakeError(Errc::kBadRequest,
                        "conditional headers take entity tags such as \"3\" (quoted) or *");
  if (rest.empty()) return bad;
  for (int n = 0; !rest.empty(); ++n) {
    if (n >= 64) return bad;
    bool weak = false;
    if (rest.substr(0, 2) == "W/") {
      weak = true;
      rest.remove_prefix(2);
    }
    if (rest.empty() || rest.front() != '"') return bad;
    std::size_t close = rest.find('"', 1);
    if (close == std::string_view::npos) return bad;
    std::string_view opaque = rest.substr(1, close - 1);
    rest = Trim(rest.substr(close + 1));
    // A well-formed tag that is not one of ours simply never matches.
    if (auto v = ParseVersion(opaque)) (weak ? tags.weak : tags.strong).push_back(*v);
    if (rest.empty()) break;
    if (rest.front() != ',') return bad;
    rest = Trim(rest.substr(1));
  }
  return tags;
}

std::string ETagOf(std::int64_t version) {
  // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) on the
  // equivalent chain of operator+ in optimised builds.
  std::string tag(1, '"');
  tag.append(std::to_string(version)).push_back('"');
  return tag;
}

std::string EncodeCursor(char kind, std::string_view payload) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 + payload.size() * 2);
  std::string raw(1, kind);
  raw.append(payload);
  for (unsigned char c : raw) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::optional<std::string> DecodeCursor(char kind, std::string_view cursor) {
  if (cursor.size() < 2 || cursor.size() % 2 != 0 || cursor.size() > 256) return std::nullopt;
  std::string raw;
  for (std::size_t i = 0; i < cursor.size(); i += 2) {
    int hi = HexValue(cursor[i]);
    int lo = HexValue(cursor[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    raw.push_back(static_cast<char>(hi * 16 + lo));
  }
  if (raw[0] != kind) return std::nullopt;
  return raw.substr(1);
}

std::size_t CodePoints(std::string_view utf8) {
  std::size_t n = 0;
  for (unsigned char c : utf8) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

}  // namespace bookd::api
