// The one dispatch from a write Operation to the writer code that performs
// it, shared by every store's writer.
#pragma once

#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "domain/model.h"
#include "storage/store.h"

namespace bookd::storage {

// Calls the member of `w` that performs `op`'s kind (CreateResourceOp,
// PatchResourceOp, DeleteResourceOp, CreateBookingOp, PatchBookingOp,
// TransitionOp; each takes tenant, command and now) and turns its answer into
// the outcome: the Resource or Booking, nothing for a delete, or the Error.
// A writer that keeps those members private names this function its friend.
template <class W>
WriteOutcome Perform(W& w, const std::string& tenant, const Operation& op, domain::Instant now) {
  const auto outcome = [](auto result) -> WriteOutcome {
    if (!result) return WriteOutcome{std::move(result).error(), std::nullopt};
    if constexpr (std::is_same_v<decltype(result), Status>) {
      return WriteOutcome{std::monostate{}, std::nullopt};
    } else {
      return WriteOutcome{std::move(*result), std::nullopt};
    }
  };
  return std::visit(
      [&](const auto& c) -> WriteOutcome {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, CreateResource>) {
          return outcome(w.CreateResourceOp(tenant, c, now));
        } else if constexpr (std::is_same_v<T, PatchResource>) {
          return outcome(w.PatchResourceOp(tenant, c, now));
        } else if constexpr (std::is_same_v<T, DeleteResource>) {
          return outcome(w.DeleteResourceOp(tenant, c, now));
        } else if constexpr (std::is_same_v<T, CreateBooking>) {
          return outcome(w.CreateBookingOp(tenant, c, now));
        } else if constexpr (std::is_same_v<T, PatchBooking>) {
          return outcome(w.PatchBookingOp(tenant, c, now));
        } else {
          static_assert(std::is_same_v<T, TransitionBooking>);
          return outcome(w.TransitionOp(tenant, c, now));
        }
      },
      op);
}

}  // namespace bookd::storage
