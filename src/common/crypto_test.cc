// Crypto helpers: SHA-256 against known vectors, tokens of the promised
// shape that do not repeat, request ids unique and well-formed.
#include "common/crypto.h"

#include <gtest/gtest.h>

#include <set>

#include "common/ids.h"

namespace bookd {
namespace {

TEST(CryptoTest, Sha256KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(CryptoTest, RandomTokenShape) {
  const std::string t = RandomToken(100);
  ASSERT_EQ(t.size(), 200u);
  EXPECT_EQ(t.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(RandomToken(16), RandomToken(16));
  EXPECT_EQ(RandomToken(0), "");
}

TEST(CryptoTest, RequestIdsAreUnique) {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = NextRequestId();
    EXPECT_LE(id.size(), 29u);
    EXPECT_EQ(id[12], '-');
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 1000u);
}

}  // namespace
}  // namespace bookd
