// Opaque random identifiers for bookings, resources and keys.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace bookd::storage {

// `prefix` followed by 2*bytes lowercase hex digits from a CSPRNG. Ids are
// unguessable so that knowing one booking's id tells nothing about another.
std::string NewId(std::string_view prefix, std::size_t bytes);

}  // namespace bookd::storage
