// Opaque random identifiers for bookings, resources and keys.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bookd::storage {

// `prefix` followed by 2*bytes lowercase hex digits from a CSPRNG. Ids are
// unguessable so that knowing one booking's id tells nothing about another.
std::string NewId(std::string_view prefix, std::size_t bytes);

// An id that sorts by creation: `prefix`, 8 hex digits of `now`, 6 of a
// per-thread counter, then 2*random_bytes random hex digits. Inserting such
// ids lands at the end of the unique index instead of on a random page, which
// is what keeps a batch's COMMIT to a few dirty pages. The random part keeps
// them unguessable; they reveal only their creation second.
std::string NewOrderedId(std::string_view prefix, std::int64_t now, std::size_t random_bytes);

}  // namespace bookd::storage
