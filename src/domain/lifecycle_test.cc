// Goal: every (status, transition) pair of the booking state machine answers
// as the contract says, a refusal leaves the booking untouched, and expiry is
// judged at `now` exactly. Method: the whole table, by hand.
#include "domain/lifecycle.h"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

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

// `t` answers `code` (an Error), or kAlreadyThere when `code` is empty, and
// either way leaves the booking as it was.
void ExpectNoChange(Booking b, Transition t, std::optional<Errc> code) {
  const Booking before = b;
  auto r = ApplyTransition(b, t, kNow);
  if (code) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, *code);
  } else {
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, TransitionEffect::kAlreadyThere);
  }
  EXPECT_EQ(b.status, before.status);
  EXPECT_EQ(b.expires_at, before.expires_at);
  EXPECT_EQ(b.version, before.version);
  EXPECT_EQ(b.updated_at, before.updated_at);
}

// A change lands on `to`, clears expires_at, bumps the version and stamps now.
void ExpectChangedTo(Booking b, Transition t, BookingStatus to) {
  auto r = ApplyTransition(b, t, kNow);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, TransitionEffect::kChanged);
  EXPECT_EQ(b.status, to);
  EXPECT_FALSE(b.expires_at.has_value());
  EXPECT_EQ(b.version, 4);
  EXPECT_EQ(b.updated_at, kNow);
}

TEST(Lifecycle, ANewBookingIsHeldForItsHoldOrElseConfirmed) {
  const std::vector<Item> items{{"room", 2000, 5600, 1}};
  const Booking held = NewBooking("t", "bk_1", items, "ann", R"({"a":1})", 600, kNow);
  EXPECT_EQ(held.tenant, "t");
  EXPECT_EQ(held.id, "bk_1");
  EXPECT_EQ(held.status, BookingStatus::kHeld);
  EXPECT_EQ(held.expires_at, kNow + 600);
  EXPECT_EQ(held.items.size(), 1u);
  EXPECT_EQ(held.customer, "ann");
  EXPECT_EQ(held.metadata_json, R"({"a":1})");
  EXPECT_EQ(held.version, 1);
  EXPECT_EQ(held.created_at, kNow);
  EXPECT_EQ(held.updated_at, kNow);
  EXPECT_TRUE(CountsAt(held, kNow + 599));
  EXPECT_FALSE(CountsAt(held, kNow + 600));

  const Booking confirmed = NewBooking("t", "bk_2", items, std::nullopt, "{}", std::nullopt, kNow);
  EXPECT_EQ(confirmed.status, BookingStatus::kConfirmed);
  EXPECT_FALSE(confirmed.expires_at.has_value());
  EXPECT_FALSE(confirmed.customer.has_value());
  EXPECT_TRUE(CountsAt(confirmed, kNow + 1000000));
}

TEST(Lifecycle, ConfirmingAHoldMakesItCountForGood) {
  ExpectChangedTo(Held(kNow + 1), Transition::kConfirm, BookingStatus::kConfirmed);
}

TEST(Lifecycle, AHoldExpiresAtItsInstantExactly) {
  const Booking b = Held(kNow);  // expires_at == now: already expired
  ExpectNoChange(b, Transition::kConfirm, Errc::kHoldExpired);
  EXPECT_EQ(CheckPatchable(b, kNow).error().code, Errc::kHoldExpired);
  EXPECT_TRUE(CheckPatchable(b, kNow - 1));
}

TEST(Lifecycle, ConfirmingTwiceChangesNothing) {
  ExpectNoChange(Stored(BookingStatus::kConfirmed), Transition::kConfirm, std::nullopt);
}

TEST(Lifecycle, ACancelledBookingCannotBeConfirmedOrPatched) {
  const Booking b = Stored(BookingStatus::kCancelled);
  ExpectNoChange(b, Transition::kConfirm, Errc::kInvalidTransition);
  EXPECT_EQ(CheckPatchable(b, kNow).error().code, Errc::kInvalidTransition);
}

TEST(Lifecycle, CancellingReleasesHeldAndConfirmedBookings) {
  ExpectChangedTo(Held(kNow + 1), Transition::kCancel, BookingStatus::kCancelled);
  ExpectChangedTo(Stored(BookingStatus::kConfirmed), Transition::kCancel,
                  BookingStatus::kCancelled);
}

TEST(Lifecycle, CancellingACancelledOrExpiredBookingChangesNothing) {
  ExpectNoChange(Stored(BookingStatus::kCancelled), Transition::kCancel, std::nullopt);
  ExpectNoChange(Held(kNow - 5), Transition::kCancel, std::nullopt);
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
