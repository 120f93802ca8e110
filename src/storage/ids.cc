#include "storage/ids.h"

#include <openssl/rand.h>

#include <array>
#include <cstdio>
#include <cstdlib>

namespace bookd::storage {

std::string NewId(std::string_view prefix, std::size_t bytes) {
  // RAND_bytes per id costs more than an insert; draw a block per thread.
  struct Pool {
    std::array<unsigned char, 4096> buf{};
    std::size_t used = 4096;
  };
  thread_local Pool pool;
  static constexpr char kHex[] = "0123456789abcdef";

  std::string id(prefix);
  id.reserve(prefix.size() + 2 * bytes);
  for (std::size_t i = 0; i < bytes; ++i) {
    if (pool.used == pool.buf.size()) {
      // No entropy means ids could repeat; nothing sensible can go on.
      if (RAND_bytes(pool.buf.data(), static_cast<int>(pool.buf.size())) != 1) std::abort();
      pool.used = 0;
    }
    const unsigned char b = pool.buf[pool.used++];
    id += kHex[b >> 4];
    id += kHex[b & 15];
  }
  return id;
}

std::string NewOrderedId(std::string_view prefix, std::int64_t now, std::size_t random_bytes) {
  thread_local std::uint32_t counter = 0;
  counter = (counter + 1) & 0xffffff;
  char head[16];
  std::snprintf(head, sizeof head, "%08llx%06x",
                static_cast<unsigned long long>(now) & 0xffffffffULL, counter);
  std::string id(prefix);
  id += head;
  id += NewId("", random_bytes);
  return id;
}

}  // namespace bookd::storage
