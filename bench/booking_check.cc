#include "booking_check.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace bookd::bench {
namespace {

void Fail(CheckReport& report, std::string message) {
  if (report.messages.size() < CheckReport::kMaxMessages) {
    report.messages.push_back(std::move(message));
  } else if (report.messages.size() == CheckReport::kMaxMessages) {
    report.messages.push_back("... further failures not shown");
  }
}

bool Counts(const ListedBooking& booking) {
  return booking.status == "confirmed" || booking.status == "held";
}

std::string Describe(const BookingItem& item) {
  return item.resource_id + " [" + FormatUtcSeconds(item.start_s) + ", " +
         FormatUtcSeconds(item.end_s) + ") x" + std::to_string(item.quantity);
}

void CheckCreatedAreListed(const CheckInput& input,
                           const std::unordered_map<std::string, const ListedBooking*>& by_id,
                           CheckReport& report) {
  for (const CreatedBooking& created : input.created) {
    auto it = by_id.find(created.id);
    if (it == by_id.end()) {
      ++report.missing;
      Fail(report, "booking " + created.id + " was answered 201 but is not listed");
      continue;
    }
    const ListedBooking& listed = *it->second;
    if (listed.status != "confirmed" || listed.items.size() != 1 ||
        listed.items[0] != created.item) {
      ++report.mismatched;
      Fail(report, "booking " + created.id + " is listed as " + listed.status + " with " +
                       std::to_string(listed.items.size()) + " item(s), expected confirmed " +
                       Describe(created.item));
    }
  }
}

void CheckCapacity(const CheckInput& input, const ResourceUnderTest& resource,
                   const std::vector<ListedBooking>& listed, CheckReport& report) {
  std::vector<BookingItem> items;
  for (const ListedBooking& booking : listed) {
    if (!Counts(booking)) continue;
    for (const BookingItem& item : booking.items) {
      if (item.resource_id == resource.id) items.push_back(item);
    }
  }
  const std::int64_t peak = PeakQuantity(items);
  if (peak > resource.capacity) {
    ++report.oversold_resources;
    Fail(report, "resource " + resource.id + " is oversold: peak " + std::to_string(peak) +
                     " > capacity " + std::to_string(resource.capacity));
  }

  if (!input.same_interval_per_resource) return;
  const std::int64_t sellable = resource.capacity / input.flash_quantity * input.flash_quantity;
  const bool sold_out = resource.refused_unavailable > 0;
  if ((sold_out && peak != sellable) || (!sold_out && peak > sellable)) {
    ++report.flash_miscounted_resources;
    Fail(report, "resource " + resource.id + " sold " + std::to_string(peak) + " units with " +
                     std::to_string(resource.refused_unavailable) + " refusals; expected exactly " +
                     std::to_string(sellable));
  }
}

}  // namespace

std::int64_t PeakQuantity(std::vector<BookingItem> items) {
  // Events sorted by time; at equal times ends (-q) come before starts (+q) because the
  // intervals are half-open.
  std::vector<std::pair<std::int64_t, std::int64_t>> events;
  events.reserve(items.size() * 2);
  for (const BookingItem& item : items) {
    events.emplace_back(item.start_s, item.quantity);
    events.emplace_back(item.end_s, -item.quantity);
  }
  std::sort(events.begin(), events.end());
  std::int64_t level = 0;
  std::int64_t peak = 0;
  for (const auto& [at_s, delta] : events) {
    level += delta;
    peak = std::max(peak, level);
  }
  return peak;
}

CheckReport CheckBookings(const CheckInput& input) {
  CheckReport report;
  std::unordered_map<std::string, const ListedBooking*> by_id;
  for (const ResourceUnderTest& resource : input.resources) {
    auto it = input.listed_by_resource.find(resource.id);
    if (it == input.listed_by_resource.end()) {
      Fail(report, "resource " + resource.id + " was not listed");
      continue;
    }
    std::unordered_set<std::string_view> seen;
    for (const ListedBooking& booking : it->second) {
      ++report.listed;
      if (!seen.insert(booking.id).second) {
        ++report.repeats;
        Fail(report, "booking " + booking.id + " is listed twice for " + resource.id);
      }
      by_id.emplace(booking.id, &booking);
    }
    CheckCapacity(input, resource, it->second, report);
  }

  CheckCreatedAreListed(input, by_id, report);

  std::unordered_set<std::string_view> created_ids;
  for (const CreatedBooking& created : input.created) created_ids.insert(created.id);
  for (const auto& [id, booking] : by_id) {
    if (created_ids.contains(id) || !Counts(*booking)) continue;
    ++report.phantoms;
    if (!input.unanswered_requests) {
      Fail(report, "booking " + id + " is listed but no client was answered 201 for it");
    }
  }
  return report;
}

std::optional<std::int64_t> ParseUtcSeconds(std::string_view text) {
  // 0123456789012345678 9
  // YYYY-MM-DDTHH:MM:SSZ
  if (text.size() != 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':' || text[19] != 'Z') {
    return std::nullopt;
  }
  auto number = [&](std::size_t at, std::size_t digits) -> std::optional<int> {
    int value = 0;
    for (std::size_t i = at; i < at + digits; ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      value = value * 10 + (text[i] - '0');
    }
    return value;
  };
  const auto year = number(0, 4), month = number(5, 2), day = number(8, 2);
  const auto hour = number(11, 2), minute = number(14, 2), second = number(17, 2);
  if (!year || !month || !day || !hour || !minute || !second) return std::nullopt;
  const std::chrono::year_month_day date{std::chrono::year{*year},
                                         std::chrono::month{unsigned(*month)},
                                         std::chrono::day{unsigned(*day)}};
  if (!date.ok() || *hour > 23 || *minute > 59 || *second > 59) return std::nullopt;
  const auto days = std::chrono::sys_days{date}.time_since_epoch().count();
  return std::int64_t{days} * 86400 + *hour * 3600 + *minute * 60 + *second;
}

std::string FormatUtcSeconds(std::int64_t unix_s) {
  const std::int64_t days = (unix_s >= 0 ? unix_s : unix_s - 86399) / 86400;
  const std::int64_t in_day = unix_s - days * 86400;
  const std::chrono::year_month_day date{
      std::chrono::sys_days{std::chrono::days{static_cast<int>(days)}}};
  char text[32];
  std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02d:%02d:%02dZ", int(date.year()),
                unsigned(date.month()), unsigned(date.day()), int(in_day / 3600),
                int(in_day / 60 % 60), int(in_day % 60));
  return text;
}

}  // namespace bookd::bench
