// Verification of a load run against what the server lists afterwards.
//
// The load generator is also the cheapest end-to-end oversell test we have, so after every
// booking scenario it reads every booking of the resources it created and checks:
//   1. Durability: every booking that was answered 201 is listed, confirmed, with exactly the
//      item that was sent (resource, start, end, quantity).
//   2. No oversell: for each resource, the peak of the summed quantity of counting bookings
//      (confirmed, or held) over any instant is at most the capacity. Intervals are half-open,
//      so at an instant where one booking ends and another starts only the second counts.
//   3. No undersell (flash): when every booking on a resource asks for the same interval and
//      some were refused as unavailable, the accepted quantity is exactly the capacity rounded
//      down to a multiple of the quantity; a refusal while units were free is a bug as well.
//   4. No phantoms: a listed booking that no client saw a 201 for is reported; it is a failure
//      unless some request ended without an answer (then the booking may be that request's).
//   5. The listing repeats no booking while paging.
// The checks are pure functions of their inputs so that they can be tested without a server.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bookd::bench {

struct BookingItem {
  std::string resource_id;
  std::int64_t start_s = 0;  // Unix seconds, UTC.
  std::int64_t end_s = 0;
  std::int64_t quantity = 1;

  bool operator==(const BookingItem&) const = default;
};

struct ListedBooking {
  std::string id;
  std::string status;
  std::vector<BookingItem> items;
};

struct CreatedBooking {
  std::string id;
  BookingItem item;
};

struct ResourceUnderTest {
  std::string id;
  std::int64_t capacity = 1;
  std::uint64_t refused_unavailable = 0;  // 409 unavailable answers seen for this resource.
};

struct CheckInput {
  std::vector<ResourceUnderTest> resources;
  std::vector<CreatedBooking> created;
  // Every booking listed for each resource, in listing order (one entry per resource).
  std::map<std::string, std::vector<ListedBooking>> listed_by_resource;
  // True when every booking on a resource asked for the same interval and quantity.
  bool same_interval_per_resource = false;
  std::int64_t flash_quantity = 1;
  // True when some request ended without an HTTP answer (timeout, reset).
  bool unanswered_requests = false;
};

struct CheckReport {
  std::uint64_t listed = 0;
  std::uint64_t missing = 0;
  std::uint64_t mismatched = 0;
  std::uint64_t oversold_resources = 0;
  std::uint64_t flash_miscounted_resources = 0;
  std::uint64_t phantoms = 0;
  std::uint64_t repeats = 0;
  std::vector<std::string> messages;  // At most kMaxMessages, the first failures found.

  static constexpr std::size_t kMaxMessages = 20;
  bool ok() const { return messages.empty(); }
};

CheckReport CheckBookings(const CheckInput& input);

// Peak summed quantity of the items at any instant; intervals are half-open.
std::int64_t PeakQuantity(std::vector<BookingItem> items);

// Parses "YYYY-MM-DDTHH:MM:SSZ" (what the server answers: UTC, whole seconds) into Unix
// seconds; anything else is nullopt.
std::optional<std::int64_t> ParseUtcSeconds(std::string_view text);

// Formats Unix seconds as "YYYY-MM-DDTHH:MM:SSZ".
std::string FormatUtcSeconds(std::int64_t unix_s);

}  // namespace bookd::bench
