// The pure helpers of the HTTP surface: each case is a rule a client relies on.
#include "api/http_util.h"

#include <gtest/gtest.h>

#include "api/json_in.h"

namespace bookd::api {
namespace {

TEST(PercentDecode, DecodesEscapesAndRefusesMalformedOnes) {
  EXPECT_EQ(PercentDecode("a%20b%2Fc", false), "a b/c");
  EXPECT_EQ(PercentDecode("a+b", true), "a b");
  EXPECT_EQ(PercentDecode("a+b", false), "a+b");
  EXPECT_FALSE(PercentDecode("%", false));
  EXPECT_FALSE(PercentDecode("%4", false));
  EXPECT_FALSE(PercentDecode("%g0", false));
}

TEST(ParseQuery, DecodesAndRefusesRepeats) {
  auto q = ParseQuery("a=1&b=x%26y&&c");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->at("a"), "1");
  EXPECT_EQ(q->at("b"), "x&y");
  EXPECT_EQ(q->at("c"), "");
  auto repeated = ParseQuery("a=1&a=2");
  ASSERT_FALSE(repeated.ok());
  EXPECT_EQ(repeated.error().code, Errc::kValidation);
  EXPECT_EQ(repeated.error().errors.at(0).parameter, "a");
  EXPECT_EQ(ParseQuery("a=%zz").error().code, Errc::kBadRequest);
}

TEST(MediaType, AcceptsJsonWithParameters) {
  EXPECT_TRUE(IsJsonMediaType("application/json"));
  EXPECT_TRUE(IsJsonMediaType("Application/JSON; charset=UTF-8"));
  EXPECT_FALSE(IsJsonMediaType("application/json; charset=latin1"));
  EXPECT_FALSE(IsJsonMediaType("text/json"));
  EXPECT_FALSE(IsJsonMediaType("application/jsonx"));
}

TEST(Ids, FollowTheContractPattern) {
  EXPECT_TRUE(IsValidId("room-101"));
  EXPECT_TRUE(IsValidId("A._-9"));
  EXPECT_TRUE(IsValidId(std::string(64, 'a')));
  EXPECT_FALSE(IsValidId(std::string(65, 'a')));
  EXPECT_FALSE(IsValidId(""));
  EXPECT_FALSE(IsValidId("-room"));
  EXPECT_FALSE(IsValidId("room/1"));
  EXPECT_FALSE(IsValidId("r\xc3\xa9"));
}

TEST(EntityTags, ParsesListsWeakTagsAndStar) {
  auto tags = ParseEntityTags("\"3\", W/\"4\" ,\"x\"");
  ASSERT_TRUE(tags.ok());
  EXPECT_EQ(tags->strong, std::vector<std::int64_t>{3});
  EXPECT_EQ(tags->weak, std::vector<std::int64_t>{4});
  EXPECT_TRUE(ParseEntityTags(" * ")->any);
  EXPECT_FALSE(ParseEntityTags("3").ok());
  EXPECT_FALSE(ParseEntityTags("\"3").ok());
  EXPECT_FALSE(ParseEntityTags("").ok());
  EXPECT_EQ(ETagOf(12), "\"12\"");
}

TEST(Cursors, RoundTripAndRefuseOtherKinds) {
  std::string c = EncodeCursor('r', "room-1");
  EXPECT_EQ(DecodeCursor('r', c), "room-1");
  EXPECT_FALSE(DecodeCursor('b', c));
  EXPECT_FALSE(DecodeCursor('r', "abc"));
  EXPECT_FALSE(DecodeCursor('r', "zz"));
}

TEST(StrictJson, RefusesWhatTheContractRefuses) {
  rapidjson::Document doc;
  EXPECT_TRUE(ParseStrictJson("{\"a\":[1,{\"b\":2}]}", doc).ok());
  EXPECT_FALSE(ParseStrictJson("{\"a\":1,\"a\":1}", doc).ok());
  EXPECT_FALSE(ParseStrictJson("\"\\u0000\"", doc).ok());
  EXPECT_FALSE(ParseStrictJson(std::string(65, '[') + std::string(65, ']'), doc).ok());
  EXPECT_TRUE(ParseStrictJson(std::string(64, '[') + std::string(64, ']'), doc).ok());
  EXPECT_FALSE(ParseStrictJson("", doc).ok());
  // Overflows to infinity instead of failing inside RapidJSON (found by fuzzing).
  EXPECT_FALSE(ParseStrictJson("6300095e0000000303", doc).ok());
  EXPECT_FALSE(ParseStrictJson("{\"m\":[6300095e0000000303]}", doc).ok());
  EXPECT_TRUE(ParseStrictJson("1.5e300", doc).ok());
  // A lone low surrogate escape, which RapidJSON 1.1 turns into bytes that are
  // not UTF-8 (found by fuzzing), in a value and in a member name; a proper
  // pair and the characters around the surrogate range stay accepted.
  EXPECT_FALSE(ParseStrictJson("\"a\\udD00e9\"", doc).ok());
  EXPECT_FALSE(ParseStrictJson("{\"\\uDFFF\":1}", doc).ok());
  EXPECT_FALSE(ParseStrictJson("\"\\uD800\"", doc).ok());
  EXPECT_TRUE(ParseStrictJson("\"\\uD83D\\uDE00 \\uD7FF \\uE000 \u00e9\"", doc).ok());
  EXPECT_EQ(PointerEscape("a/b~c"), "a~1b~0c");
}

// A booking's body is parsed inside the document's own buffer: the pool
// holds no chunk from the heap afterwards (a default Document takes 64 KiB).
// A body with the largest metadata allowed spills to the heap and parses.
TEST(StrictJson, RequestDocumentParsesABookingWithoutAHeapChunk) {
  RequestDocument doc;
  const std::size_t inline_capacity = doc.GetAllocator().Capacity();
  ASSERT_TRUE(
      ParseStrictJson(R"({"items":[{"resource_id":"room-17","start":"2027-03-01T10:00:00Z",)"
                      R"("end":"2027-03-01T11:00:00Z","quantity":1}],"hold_seconds":600,)"
                      R"("customer":"cust-42","metadata":{"source":"web","note":"x"}})",
                      doc)
          .ok());
  EXPECT_EQ(doc.GetAllocator().Capacity(), inline_capacity);
  EXPECT_LT(inline_capacity, std::size_t{4096});
  EXPECT_STREQ(doc["items"][0]["resource_id"].GetString(), "room-17");
  EXPECT_EQ(doc["hold_seconds"].GetInt(), 600);

  RequestDocument big;
  const std::string note(kMetadataBytesMax - 64, 'n');
  ASSERT_TRUE(ParseStrictJson(R"({"metadata":{"note":")" + note + R"("}})", big).ok());
  EXPECT_GT(big.GetAllocator().Capacity(), inline_capacity);
  EXPECT_EQ(big["metadata"]["note"].GetStringLength(), note.size());
}

}  // namespace
}  // namespace bookd::api
