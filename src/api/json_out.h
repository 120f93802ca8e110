// JSON output. Instants are always UTC with "Z"; stored metadata is already
// serialized JSON and is embedded as it is.
#pragma once

#include <string>
#include <vector>

#include "domain/availability.h"
#include "domain/model.h"

namespace bookd::api {

std::string ResourceJson(const domain::Resource& r);
// `status` is the effective status at `now`; expires_at only while held.
std::string BookingJson(const domain::Booking& b, domain::Instant now);

std::string ResourceListJson(const std::vector<domain::Resource>& data,
                             const std::string* next_cursor);
std::string BookingListJson(const std::vector<domain::Booking>& data, domain::Instant now,
                            const std::string* next_cursor);

std::string AvailabilityJson(const std::string& resource_id, domain::Interval range,
                             const std::vector<domain::FreeInterval>& intervals);
std::string SlotsJson(const std::string& resource_id, const domain::SlotAnswer& answer);

struct SearchResult {
  std::string resource_id;
  domain::SlotAnswer answer;
};
std::string SearchJson(const std::vector<SearchResult>& results);
// The same in two steps, so that the results can be rendered in parallel:
// one result's object, then the answer around results rendered so.
std::string SearchResultJson(const SearchResult& result);
std::string SearchJsonOf(const std::vector<std::string>& rendered_results);

}  // namespace bookd::api
