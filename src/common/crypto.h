// Hashing and random tokens for API keys, idempotency fingerprints and
// generated ids. Both are backed by OpenSSL (EVP SHA-256, RAND_bytes).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace bookd {

// SHA-256 of `data` as 64 lowercase hex digits.
std::string Sha256Hex(std::string_view data);

// `bytes` bytes from the OpenSSL CSPRNG as lowercase hex (2 * bytes
// characters, [0-9a-f], safe in URLs, headers and ids). Aborts if the
// CSPRNG cannot be seeded: a predictable key is worse than no key.
std::string RandomToken(std::size_t bytes);

}  // namespace bookd
