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

#include "common/result.h"
#include "domain/model.h"

namespace bookd::domain {

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
