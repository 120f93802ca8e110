// Goal: every (status, transition) pair of the booking state machine answers
// as the contract says, a refusal leaves the booking untouched, and expiry is
// judged at `now` exactly. Method: the whole table, by hand.
#include "domain/lifecycle.h"

#include <gtest/gtest.h>

namespace bookd::domain {
namespace {

constexpr Instant kNow = 1000;

Booking Held(Instant expires_at) {
  Booking b;
  b.id = "bk_1";
  b.status = BookingStatus::kHeld;
  b.expires_at = expires_at;
  b.version = 3;
  b.updated_at = 10;
  return b;
}

Booking Stored(BookingStatus status) {
  Booking b = Held(kNow + 60);
  b.status = status;
  if (status != BookingStatus::kHeld) b.expires_at.reset();
  return b;
}

void ExpectUntouched(const Booking& b, const Booking& before) {
  EXPECT_EQ(b.status, before.status);
  EXPECT_EQ(b.expires_at, before.expires_at);
  EXPECT_EQ(b.version, before.version);
  EXPECT_EQ(b.updated_at, before.updated_at);
}

TEST(Lifecycle, ConfirmingAHoldMakesItCountForGood) {
  Booking b = Held(kNow + 1);
  auto r = ApplyTransition(b, Transition::kConfirm, kNow);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, TransitionEffect::kChanged);
  EXPECT_EQ(b.status, BookingStatus::kConfirmed);
  EXPECT_FALSE(b.expires_at.has_value());
  EXPECT_EQ(b.version, 4);
  EXPECT_EQ(b.updated_at, kNow);
}

TEST(Lifecycle, AHoldExpiresAtItsInstantExactly) {
  Booking b = Held(kNow);  // expires_at == now: already expired
  const Booking before = b;
  auto r = ApplyTransition(b, Transition::kConfirm, kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kHoldExpired);
  ExpectUntouched(b, before);
  EXPECT_EQ(CheckPatchable(b, kNow).error().code, Errc::kHoldExpired);
  EXPECT_TRUE(CheckPatchable(b, kNow - 1));
}

TEST(Lifecycle, ConfirmingTwiceChangesNothing) {
  Booking b = Stored(BookingStatus::kConfirmed);
  const Booking before = b;
  auto r = ApplyTransition(b, Transition::kConfirm, kNow);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, TransitionEffect::kAlreadyThere);
  ExpectUntouched(b, before);
}

TEST(Lifecycle, ACancelledBookingCannotBeConfirmedOrPatched) {
  Booking b = Stored(BookingStatus::kCancelled);
  const Booking before = b;
  auto r = ApplyTransition(b, Transition::kConfirm, kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kInvalidTransition);
  ExpectUntouched(b, before);
  EXPECT_EQ(CheckPatchable(b, kNow).error().code, Errc::kInvalidTransition);
}

TEST(Lifecycle, CancellingReleasesHeldAndConfirmedBookings) {
  for (Booking b : {Held(kNow + 1), Stored(BookingStatus::kConfirmed)}) {
    auto r = ApplyTransition(b, Transition::kCancel, kNow);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, TransitionEffect::kChanged);
    EXPECT_EQ(b.status, BookingStatus::kCancelled);
    EXPECT_FALSE(b.expires_at.has_value());
    EXPECT_EQ(b.version, 4);
    EXPECT_EQ(b.updated_at, kNow);
  }
}

TEST(Lifecycle, CancellingACancelledOrExpiredBookingChangesNothing) {
  for (Booking b : {Stored(BookingStatus::kCancelled), Held(kNow - 5)}) {
    const Booking before = b;
    auto r = ApplyTransition(b, Transition::kCancel, kNow);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, TransitionEffect::kAlreadyThere);
    ExpectUntouched(b, before);
  }
}

TEST(Lifecycle, HeldAndConfirmedBookingsArePatchable) {
  EXPECT_TRUE(CheckPatchable(Held(kNow + 1), kNow));
  EXPECT_TRUE(CheckPatchable(Stored(BookingStatus::kConfirmed), kNow));
}

TEST(Lifecycle, IfMatchMustNameTheCurrentVersion) {
  const Booking b = Stored(BookingStatus::kConfirmed);
  EXPECT_TRUE(CheckVersion(b, 3));
  for (std::int64_t stale : {2, 4}) {
    auto s = CheckVersion(b, stale);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code, Errc::kPreconditionFailed);
    EXPECT_NE(s.error().detail.find("version 3"), std::string::npos);
  }
}

}  // namespace
}  // namespace bookd::domain
