// Goal: the verification after a load run catches lost, altered, oversold, undersold and
// phantom bookings, and accepts a correct listing. Method: hand-built listings.
#include "booking_check.h"

#include <gtest/gtest.h>

namespace bookd::bench {
namespace {

constexpr std::int64_t kT0 = 1811872800;  // 2027-06-01T18:00:00Z

BookingItem Item(const std::string& resource, std::int64_t from_h, std::int64_t to_h,
                 std::int64_t quantity = 1) {
  return {resource, kT0 + from_h * 3600, kT0 + to_h * 3600, quantity};
}

ListedBooking Listed(const std::string& id, const BookingItem& item,
                     const std::string& status = "confirmed") {
  return {id, status, {item}};
}

TEST(BookingCheck, PeakTreatsIntervalsAsHalfOpen) {
  EXPECT_EQ(PeakQuantity({Item("r", 0, 1), Item("r", 1, 2)}), 1);
  EXPECT_EQ(PeakQuantity({Item("r", 0, 2), Item("r", 1, 3)}), 2);
  EXPECT_EQ(PeakQuantity({Item("r", 0, 4, 3), Item("r", 1, 2, 2), Item("r", 3, 5, 1)}), 5);
  EXPECT_EQ(PeakQuantity({}), 0);
}

TEST(BookingCheck, AcceptsAConsistentListing) {
  CheckInput input;
  input.resources = {{"r", 2, 0}};
  input.created = {{"a", Item("r", 0, 1)}, {"b", Item("r", 0, 1)}};
  input.listed_by_resource["r"] = {Listed("a", Item("r", 0, 1)), Listed("b", Item("r", 0, 1))};
  const CheckReport report = CheckBookings(input);
  EXPECT_TRUE(report.ok()) << report.messages.front();
  EXPECT_EQ(report.listed, 2u);
}

TEST(BookingCheck, ReportsMissingAndAlteredBookings) {
  CheckInput input;
  input.resources = {{"r", 10, 0}};
  input.created = {{"a", Item("r", 0, 1)}, {"b", Item("r", 0, 1)}, {"c", Item("r", 2, 3)}};
  input.listed_by_resource["r"] = {Listed("a", Item("r", 0, 1)), Listed("c", Item("r", 2, 4))};
  const CheckReport report = CheckBookings(input);
  EXPECT_FALSE(report.ok());
  EXPECT_EQ(report.missing, 1u);     // b
  EXPECT_EQ(report.mismatched, 1u);  // c has another end
}

TEST(BookingCheck, ReportsOversell) {
  CheckInput input;
  input.resources = {{"r", 1, 0}};
  input.created = {{"a", Item("r", 0, 2)}, {"b", Item("r", 1, 3)}};
  input.listed_by_resource["r"] = {Listed("a", Item("r", 0, 2)), Listed("b", Item("r", 1, 3))};
  EXPECT_EQ(CheckBookings(input).oversold_resources, 1u);

  // A cancelled booking does not count against capacity.
  input.listed_by_resource["r"][1].status = "cancelled";
  input.created.pop_back();
  EXPECT_EQ(CheckBookings(input).oversold_resources, 0u);
}

TEST(BookingCheck, FlashMustSellExactlyTheCapacityOnceRefusing) {
  CheckInput input;
  input.same_interval_per_resource = true;
  input.flash_quantity = 2;
  input.resources = {{"r", 5, 3}};  // 5 units, quantity 2: exactly 2 bookings (4 units) sell.
  input.created = {{"a", Item("r", 0, 1, 2)}};
  input.listed_by_resource["r"] = {Listed("a", Item("r", 0, 1, 2))};
  EXPECT_EQ(CheckBookings(input).flash_miscounted_resources, 1u);  // refused while 3 free

  input.created.push_back({"b", Item("r", 0, 1, 2)});
  input.listed_by_resource["r"].push_back(Listed("b", Item("r", 0, 1, 2)));
  EXPECT_TRUE(CheckBookings(input).ok());

  input.resources[0].refused_unavailable = 0;  // not sold out: fewer is fine
  input.created.pop_back();
  input.listed_by_resource["r"].pop_back();
  EXPECT_TRUE(CheckBookings(input).ok());
}

TEST(BookingCheck, PhantomsFailUnlessSomeRequestWentUnanswered) {
  CheckInput input;
  input.resources = {{"r", 5, 0}};
  input.listed_by_resource["r"] = {Listed("ghost", Item("r", 0, 1))};
  CheckReport report = CheckBookings(input);
  EXPECT_EQ(report.phantoms, 1u);
  EXPECT_FALSE(report.ok());

  input.unanswered_requests = true;
  report = CheckBookings(input);
  EXPECT_EQ(report.phantoms, 1u);
  EXPECT_TRUE(report.ok());
}

TEST(BookingCheck, ReportsRepeatsWhilePaging) {
  CheckInput input;
  input.resources = {{"r", 5, 0}};
  input.created = {{"a", Item("r", 0, 1)}};
  input.listed_by_resource["r"] = {Listed("a", Item("r", 0, 1)), Listed("a", Item("r", 0, 1))};
  EXPECT_EQ(CheckBookings(input).repeats, 1u);
}

TEST(BookingCheck, UtcTimesRoundTrip) {
  EXPECT_EQ(ParseUtcSeconds("2027-06-01T18:00:00Z"), kT0);
  EXPECT_EQ(FormatUtcSeconds(kT0), "2027-06-01T18:00:00Z");
  EXPECT_EQ(ParseUtcSeconds("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(FormatUtcSeconds(1798761600 - 1), "2026-12-31T23:59:59Z");
  EXPECT_FALSE(ParseUtcSeconds("2027-06-01T18:00:00+00:00"));
  EXPECT_FALSE(ParseUtcSeconds("2027-02-29T00:00:00Z"));
  EXPECT_FALSE(ParseUtcSeconds("2027-06-01T24:00:00Z"));
}

}  // namespace
}  // namespace bookd::bench
