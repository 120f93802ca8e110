// Goal: a resource patch changes exactly the fields it names, bumps the
// version, refuses a capacity below 1; lowering capacity and removing a
// resource are judged on what counts from now on only (not on finished
// usages or expired holds). Method: small ledgers built by hand.
#include "domain/resource_rules.h"

#include <gtest/gtest.h>

namespace bookd::domain {
namespace {

constexpr Instant kNow = 10000;

Resource Room() {
  Resource r;
  r.id = "room";
  r.name = "Room";
  r.capacity = 5;
  r.timezone = "Europe/Berlin";
  r.version = 7;
  r.updated_at = 1;
  return r;
}

TEST(ResourceRules, APatchChangesWhatItNamesAndBumpsTheVersion) {
  ResourcePatch p;
  p.name = "Hall";
  p.hours = std::optional<WeeklyHours>{};  // explicitly open always
  auto r = ApplyPatch(Room(), p, kNow);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->name, "Hall");
  EXPECT_EQ(r->capacity, 5);
  EXPECT_EQ(r->timezone, "Europe/Berlin");
  EXPECT_FALSE(r->hours.has_value());
  EXPECT_EQ(r->version, 8);
  EXPECT_EQ(r->updated_at, kNow);
}

TEST(ResourceRules, CapacityBelowOneIsAValidationError) {
  ResourcePatch p;
  p.capacity = 0;
  auto r = ApplyPatch(Room(), p, kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kValidation);
  ASSERT_EQ(r.error().errors.size(), 1u);
  EXPECT_EQ(r.error().errors[0].pointer, "/capacity");
}

TEST(ResourceRules, IfMatchMustNameTheCurrentVersion) {
  EXPECT_TRUE(CheckVersion(Room(), 7));
  auto s = CheckVersion(Room(), 6);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, Errc::kPreconditionFailed);
  EXPECT_NE(s.error().detail.find("version 7"), std::string::npos);
}

TEST(ResourceRules, CapacityMayNotGoBelowWhatCountsFromNowOn) {
  Ledger l;
  l.Add("a", Usage{kNow + 100, kNow + 200, 2, kForever});
  l.Add("b", Usage{kNow + 150, kNow + 300, 1, kForever});       // 3 at once with a
  l.Add("old", Usage{kNow - 500, kNow - 100, 4, kForever});     // over before now
  l.Add("lapsed", Usage{kNow + 100, kNow + 200, 4, kNow - 1});  // an expired hold
  EXPECT_TRUE(CheckCapacityFloor(l, 3, kNow));
  auto s = CheckCapacityFloor(l, 2, kNow);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, Errc::kUnavailable);
  EXPECT_NE(s.error().detail.find("use 3 units"), std::string::npos) << s.error().detail;
}

TEST(ResourceRules, OnlyAResourceWithNothingAheadMayBeRemoved) {
  Ledger l;
  EXPECT_TRUE(CheckRemovable(l, kNow));
  l.Add("old", Usage{kNow - 500, kNow - 100, 1, kForever});
  l.Add("lapsed", Usage{kNow + 100, kNow + 200, 1, kNow});  // expires at now exactly
  EXPECT_TRUE(CheckRemovable(l, kNow));
  l.Add("ahead", Usage{kNow + 100, kNow + 200, 1, kForever});
  auto s = CheckRemovable(l, kNow);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, Errc::kConflict);
}

}  // namespace
}  // namespace bookd::domain
