// Problem documents: every Errc maps to the contract's status and code, and
// the JSON carries the extra members only when they are present.
#include "common/problem.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <set>
#include <string>

namespace bookd {
namespace {

rapidjson::Document Parse(const std::string& json) {
  rapidjson::Document d;
  d.Parse(json.c_str(), json.size());
  EXPECT_FALSE(d.HasParseError()) << json;
  return d;
}

TEST(ProblemTest, StatusesAndCodesFollowTheContract) {
  EXPECT_EQ(HttpStatus(Errc::kBadRequest), 400);
  EXPECT_STREQ(ProblemCode(Errc::kBadRequest), "bad_request");
  EXPECT_EQ(HttpStatus(Errc::kUnavailable), 409);
  EXPECT_STREQ(ProblemCode(Errc::kUnavailable), "unavailable");
  EXPECT_EQ(HttpStatus(Errc::kHoldExpired), 409);
  EXPECT_EQ(HttpStatus(Errc::kPreconditionFailed), 412);
  EXPECT_EQ(HttpStatus(Errc::kPayloadTooLarge), 413);
  EXPECT_STREQ(ProblemCode(Errc::kIdempotencyKeyReused), "idempotency_key_reused");
  EXPECT_EQ(HttpStatus(Errc::kIdempotencyKeyReused), 422);
  EXPECT_EQ(HttpStatus(Errc::kPreconditionRequired), 428);
  EXPECT_EQ(HttpStatus(Errc::kTooManyRequests), 429);
  EXPECT_EQ(HttpStatus(Errc::kOverloaded), 503);
  EXPECT_STREQ(ProblemCode(Errc::kOverloaded), "overloaded");
  EXPECT_EQ(HttpStatus(Errc::kInternal), 500);
  EXPECT_STREQ(ProblemCode(Errc::kInternal), "internal");
}

TEST(ProblemTest, CodesAreDistinct) {
  std::set<std::string> codes;
  for (int i = 0; i <= static_cast<int>(Errc::kInternal); ++i) {
    codes.insert(ProblemCode(static_cast<Errc>(i)));
  }
  EXPECT_EQ(codes.size(), static_cast<std::size_t>(Errc::kInternal) + 1);
}

TEST(ProblemTest, ValidationErrorCarriesPointerAndParameter) {
  Error e = Error::Validation("/items/0/end", "end must be after start");
  e.errors.push_back({"", "from", "not an instant"});
  auto d = Parse(ProblemJson(e));

  EXPECT_STREQ(d["type"].GetString(), "/problems/validation");
  EXPECT_EQ(d["status"].GetInt(), 422);
  EXPECT_TRUE(d["title"].IsString());
  EXPECT_STREQ(d["detail"].GetString(), "the request is not valid");
  ASSERT_TRUE(d["errors"].IsArray());
  ASSERT_EQ(d["errors"].Size(), 2u);
  EXPECT_STREQ(d["errors"][0]["pointer"].GetString(), "/items/0/end");
  EXPECT_FALSE(d["errors"][0].HasMember("parameter"));
  EXPECT_STREQ(d["errors"][0]["detail"].GetString(), "end must be after start");
  EXPECT_STREQ(d["errors"][1]["parameter"].GetString(), "from");
  EXPECT_FALSE(d["errors"][1].HasMember("pointer"));
  EXPECT_FALSE(d.HasMember("conflicts"));
}

TEST(ProblemTest, ConflictCarriesItems) {
  Error e = MakeError(Errc::kUnavailable, "not enough capacity");
  e.conflicts.push_back({0, "room-101", "capacity", 0});
  e.conflicts.push_back({2, "room-\"7\"", "closed", 3});
  auto d = Parse(ProblemJson(e));

  EXPECT_STREQ(d["type"].GetString(), "/problems/unavailable");
  EXPECT_EQ(d["status"].GetInt(), 409);
  EXPECT_FALSE(d.HasMember("errors"));
  ASSERT_EQ(d["conflicts"].Size(), 2u);
  EXPECT_EQ(d["conflicts"][0]["item"].GetInt(), 0);
  EXPECT_STREQ(d["conflicts"][0]["resource_id"].GetString(), "room-101");
  EXPECT_STREQ(d["conflicts"][0]["reason"].GetString(), "capacity");
  EXPECT_EQ(d["conflicts"][0]["available"].GetInt64(), 0);
  EXPECT_EQ(d["conflicts"][1]["item"].GetInt(), 2);
  EXPECT_STREQ(d["conflicts"][1]["resource_id"].GetString(), "room-\"7\"");
  EXPECT_EQ(d["conflicts"][1]["available"].GetInt64(), 3);
}

TEST(ProblemTest, PlainProblemHasNoExtras) {
  auto d = Parse(ProblemJson(MakeError(Errc::kNotFound, "no booking \"b1\"\n")));
  EXPECT_STREQ(d["type"].GetString(), "/problems/not_found");
  EXPECT_STREQ(d["detail"].GetString(), "no booking \"b1\"\n");
  EXPECT_EQ(d.MemberCount(), 4u);
}

TEST(ProblemTest, TransportProblem) {
  auto d = Parse(TransportProblemJson(431, "request_header_fields_too_large",
                                      "Request header fields too large", "over 16 KiB"));
  EXPECT_STREQ(d["type"].GetString(), "/problems/request_header_fields_too_large");
  EXPECT_EQ(d["status"].GetInt(), 431);
  EXPECT_STREQ(d["detail"].GetString(), "over 16 KiB");
}

}  // namespace
}  // namespace bookd
