// Goal: the contract's instant syntax is enforced exactly (offset required,
// one-second precision, real calendar dates) and formatting round-trips.
#include "domain/time.h"

#include <gtest/gtest.h>

#include <string>

namespace bookd::domain {
namespace {

constexpr Instant k20270301T09 = 1803891600;  // 2027-03-01T09:00:00Z

TEST(ParseInstant, AcceptsValidForms) {
  struct Case {
    const char* text;
    Instant want;
  };
  const Case cases[] = {
      {"2027-03-01T09:00:00Z", k20270301T09},
      {"2027-03-01t09:00:00z", k20270301T09},
      {"2027-03-01T10:00:00+01:00", k20270301T09},
      {"2027-03-01T04:30:00-04:30", k20270301T09},
      {"2027-03-01T09:00:00+00:00", k20270301T09},
      {"2027-03-01T09:00:00-00:00", k20270301T09},
      {"2027-03-01T09:00:00.000Z", k20270301T09},
      {"2027-03-01T09:00:00.0+00:00", k20270301T09},
      {"2027-03-01T00:30:00+01:00", k20270301T09 - 9 * 3600 - 1800},
      {"1970-01-01T00:00:00Z", 0},
      {"1969-12-31T23:59:59Z", -1},
      {"2028-02-29T00:00:00Z", 1835395200},
      {"2000-02-29T12:00:00Z", 951825600},
      {"0001-01-01T00:00:00Z", -62135596800},
      {"9999-12-31T23:59:59Z", 253402300799},
  };
  for (const Case& c : cases) {
    Result<Instant> got = ParseInstant(c.text);
    ASSERT_TRUE(got.ok()) << c.text << ": " << got.error().detail;
    EXPECT_EQ(*got, c.want) << c.text;
  }
}

TEST(ParseInstant, RejectsInvalidForms) {
  const char* cases[] = {
      "",
      "garbage",
      "2027-03-01",
      "2027-03-01T09:00:00",          // no offset
      "2027-03-01T09:00Z",            // no seconds
      "2027-03-01 09:00:00Z",         // space instead of T
      "2027-03-01T09:00:00.5Z",       // sub-second precision
      "2027-03-01T09:00:00.000001Z",  // sub-second precision
      "2027-03-01T09:00:00.Z",        // empty fraction
      "2027-02-29T09:00:00Z",         // not a leap year
      "1900-02-29T09:00:00Z",         // century, not a leap year
      "2027-04-31T09:00:00Z",         // April has 30 days
      "2027-13-01T09:00:00Z",
      "2027-00-01T09:00:00Z",
      "2027-03-00T09:00:00Z",
      "2027-03-01T24:00:00Z",  // hour 24
      "2027-03-01T09:60:00Z",
      "2027-03-01T09:00:60Z",  // leap second
      "2027-03-01T09:00:61Z",
      "0000-03-01T09:00:00Z",
      "0001-01-01T00:00:00+00:01",  // year 0000 in UTC: could not be returned
      "9999-12-31T23:59:59-00:01",  // year 10000 in UTC
      "2027-03-01T09:00:00+1:00",
      "2027-03-01T09:00:00+0100",
      "2027-03-01T09:00:00+24:00",
      "2027-03-01T09:00:00+01:60",
      "2027-03-01T09:00:00Zjunk",
      "2027-03-01T09:00:00+01:00 ",
      " 2027-03-01T09:00:00Z",
      "+2027-03-01T09:00:00Z",
      "2027-3-01T09:00:00Z",
      "2027-03-01T09:00:00.00000000000000000000000000000000000000000000Z",  // overlong
  };
  for (const char* text : cases) {
    Result<Instant> got = ParseInstant(text);
    EXPECT_FALSE(got.ok()) << text << " parsed as " << (got.ok() ? *got : 0);
    if (!got.ok()) {
      EXPECT_EQ(got.error().code, Errc::kValidation) << text;
      EXPECT_FALSE(got.error().detail.empty()) << text;
    }
  }
}

TEST(ParseInstant, ErrorsSayWhatIsWrong) {
  EXPECT_NE(ParseInstant("2027-03-01T09:00:00.5Z").error().detail.find("one second"),
            std::string::npos);
  EXPECT_NE(ParseInstant("2027-03-01T09:00:00").error().detail.find("offset"), std::string::npos);
  EXPECT_NE(ParseInstant("2027-03-01T09:00:60Z").error().detail.find("leap second"),
            std::string::npos);
}

TEST(FormatInstant, GivesUtcWithZ) {
  EXPECT_EQ(FormatInstant(k20270301T09), "2027-03-01T09:00:00Z");
  EXPECT_EQ(FormatInstant(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatInstant(-1), "1969-12-31T23:59:59Z");
  EXPECT_EQ(FormatInstant(kForever), "9999-12-31T23:59:59Z");
}

TEST(FormatInstant, RoundTripsThroughParse) {
  // A spread of instants over four centuries, including day boundaries.
  for (Instant t = -5'000'000'000; t < 10'000'000'000; t += 86'399 * 997 + 13) {
    Result<Instant> back = ParseInstant(FormatInstant(t));
    ASSERT_TRUE(back.ok()) << FormatInstant(t);
    ASSERT_EQ(*back, t) << FormatInstant(t);
  }
}

TEST(TimeZones, KnownAndUnknown) {
  EXPECT_TRUE(IsKnownTimeZone("UTC"));
  EXPECT_TRUE(IsKnownTimeZone("Europe/Berlin"));
  EXPECT_TRUE(IsKnownTimeZone("America/New_York"));
  EXPECT_TRUE(IsKnownTimeZone("Europe/Berlin"));  // cached path
  EXPECT_FALSE(IsKnownTimeZone("Europe/Atlantis"));
  EXPECT_FALSE(IsKnownTimeZone(""));
  EXPECT_FALSE(IsKnownTimeZone("../../etc/passwd"));
  EXPECT_EQ(LocateZone("Europe/Berlin"), LocateZone("Europe/Berlin"));
  EXPECT_EQ(LocateZone("Nowhere/Else"), nullptr);
}

TEST(SystemClock, IsNearTheBuildEra) {
  SystemClock clock;
  EXPECT_GT(clock.Now(), 1'700'000'000);  // after 2023
}

}  // namespace
}  // namespace bookd::domain
