// The rules of a booking's life after it is created, as pure functions: which
// changes a status allows, and what a confirm or a cancel does. Every store's
// writer applies them inside its transaction, so that the rules exist once.
//
//            create (hold_seconds)              confirm
//   (none) ------------------------> held -----------------> confirmed
//     |                               |  \                       |
//     |  create (no hold)             |   `-- expires_at passes  |
//     `-------------------------------+--------> [expired]       |
//                                     |                          |
//                                     `------ cancel ------> cancelled <--'
//
// "expired" is derived (EffectiveStatus), never stored. Confirming a
// confirmed booking and cancelling a cancelled or expired one change nothing
// and succeed, so that a client may repeat them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "domain/model.h"

namespace bookd::domain {

// A booking as created at `now`, at version 1: held until now +
// hold_seconds when a hold is asked for, else confirmed. Its seq is the
// store's to give.
Booking NewBooking(std::string tenant, std::string id, std::vector<Item> items,
                   std::optional<std::string> customer, std::string metadata_json,
                   std::optional<std::int64_t> hold_seconds, Instant now);

enum class Transition { kConfirm, kCancel };

// The precondition of If-Match: `if_match` names the booking's version.
// Checked before any transition rule. kPreconditionFailed otherwise.
Status CheckVersion(const Booking& b, std::int64_t if_match);

// Whether the booking's items, customer or metadata may change at `now`:
// held and confirmed ones may; cancelled is kInvalidTransition, expired
// kHoldExpired.
Status CheckPatchable(const Booking& b, Instant now);

enum class TransitionEffect { kChanged, kAlreadyThere };

// Applies `t` to `b` at `now`. kChanged: the status (and expires_at, cleared)
// changed, the version went up by one and updated_at is `now`; the caller
// writes the booking. kAlreadyThere: nothing changed. An Error (confirming
// an expired hold: kHoldExpired; confirming a cancelled booking:
// kInvalidTransition) leaves `b` as it was.
Result<TransitionEffect> ApplyTransition(Booking& b, Transition t, Instant now);

}  // namespace bookd::domain
