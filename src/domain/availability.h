// Pure computations over a resource, its opening hours and its usages:
// the booking decision, free-capacity intervals and bookable slots.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/result.h"
#include "domain/ledger.h"
#include "domain/model.h"

namespace bookd::domain {

// The most items one booking may hold.
inline constexpr std::size_t kBookingItemsMax = 100;

// 1 to kBookingItemsMax items; else a kValidation Error on "/items".
Status CheckItemCount(const std::vector<Item>& items);

// Looks up the resource of every item and checks what needs no capacity
// decision, in the order a client reads its request: the item count, then
// for each item in turn, that it ends after it starts, that its resource
// exists, and that it asks for 1 to the resource's capacity units. The first
// failure is a kValidation Error whose pointer names the field
// ("/items/2/quantity"); an Error of `find` (a failed read) is returned as
// it is. `find` is called once per item, in order, and returns the resource
// or null when there is none. On success resources[i] is the resource of
// items[i], ready for CheckItems.
using FindResourceFn = std::function<Result<const Resource*>(const std::string& resource_id)>;
Status ResolveItems(const std::vector<Item>& items, const FindResourceFn& find,
                    std::vector<const Resource*>& resources);

// Decides whether `items` (all on resources given in `resources`, aligned by
// index) fit. Items of the same booking on the same resource add up. On
// failure the Error is kUnavailable with one ItemConflict per failing item:
// "closed" when the item reaches outside opening hours or into a closure,
// else "capacity". `available` is the smallest free capacity in the item's
// interval, counting this booking's earlier items on the same resource as
// already booked (floored at 0); for "closed" it is taken over the open part
// of the interval, 0 when none of it is open. The ledgers are not changed:
// the caller adds the items only after the whole booking passed.
// REQUIRES: resources.size() == items.size(); ledgers likewise.
Status CheckItems(const std::vector<const Resource*>& resources,
                  const std::vector<const Ledger*>& ledgers, const std::vector<Item>& items,
                  Instant now);

struct FreeInterval {
  Interval span;
  std::int64_t available = 0;
};

// The maximal intervals inside `range` that are open and have >= 1 free unit,
// each with a constant `available`, in time order.
std::vector<FreeInterval> Availability(const Resource& r, const std::vector<Usage>& usages,
                                       Interval range, Instant now);

struct SlotQuery {
  Interval range;
  std::int64_t duration_s = 0;
  std::int64_t step_s = 0;  // divides 86400
  std::int64_t quantity = 1;
  std::int64_t limit = 1000;
};

struct SlotAnswer {
  std::vector<Interval> slots;
  bool truncated = false;
};

// Bookable starts: a whole number of steps after the local midnight of the
// day the slot starts on; [start, start+duration) inside range, open, and
// with >= quantity free units throughout. In time order, at most `limit`.
SlotAnswer Slots(const Resource& r, const std::vector<Usage>& usages, const SlotQuery& q,
                 Instant now);

}  // namespace bookd::domain
