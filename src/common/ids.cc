#include "common/ids.h"

#include <atomic>
#include <charconv>
#include <cstdint>

#include "common/crypto.h"

namespace bookd {

std::string NextRequestId() {
  static const std::string prefix = RandomToken(6) + "-";
  static std::atomic<std::uint64_t> counter{0};
  const std::uint64_t n = counter.fetch_add(1, std::memory_order_relaxed);

  char buf[16];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), n, 16);
  std::string id;
  id.reserve(prefix.size() + static_cast<std::size_t>(end - buf));
  id.append(prefix).append(buf, end);
  return id;
}

}  // namespace bookd
