#include "common/crypto.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <cstdio>
#include <cstdlib>

namespace bookd {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

void AppendHex(const unsigned char* data, std::size_t size, std::string& out) {
  for (std::size_t i = 0; i < size; ++i) {
    out.push_back(kHexDigits[data[i] >> 4]);
    out.push_back(kHexDigits[data[i] & 0x0f]);
  }
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_size = 0;
  // EVP_Digest is a one-shot init/update/final; it only fails on allocation
  // failure, which we treat like any other out-of-memory condition.
  if (EVP_Digest(data.data(), data.size(), digest.data(), &digest_size, EVP_sha256(), nullptr) !=
      1) {
    std::fputs("crypto: EVP_Digest(sha256) failed\n", stderr);
    std::abort();
  }
  std::string out;
  out.reserve(2 * digest_size);
  AppendHex(digest.data(), digest_size, out);
  return out;
}

std::string RandomToken(std::size_t bytes) {
  constexpr std::size_t kChunkBytes = 64;
  std::string out;
  out.reserve(2 * bytes);
  std::array<unsigned char, kChunkBytes> chunk{};
  while (bytes > 0) {
    const std::size_t n = bytes < kChunkBytes ? bytes : kChunkBytes;
    if (RAND_bytes(chunk.data(), static_cast<int>(n)) != 1) {
      std::fputs("crypto: RAND_bytes failed\n", stderr);
      std::abort();
    }
    AppendHex(chunk.data(), n, out);
    bytes -= n;
  }
  return out;
}

}  // namespace bookd
