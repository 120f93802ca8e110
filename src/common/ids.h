// Cheap unique ids for requests: a prefix drawn once per process from the
// CSPRNG, then an atomic counter. Unique across processes with high
// probability, monotonic within one, and no syscall per id.
#pragma once

#include <string>

namespace bookd {

// "<12 hex digits>-<hex counter>", at most 29 characters.
std::string NextRequestId();

}  // namespace bookd
