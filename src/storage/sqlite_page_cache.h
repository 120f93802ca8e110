// SQLite's own page cache, with one costly walk taken out of every COMMIT.
//
// The default page cache (pcache1) remembers the largest page number it has
// ever held and, when a transaction ends, drops the pages numbered beyond the
// database's size. When that largest number lies further beyond the size
// than the cache has hash buckets, the drop walks every bucket and every
// cached page. B-tree balancing gives a page a temporary number while it
// swaps two page numbers: the page just above the lock byte at 1 GiB
// (262145 with 4 KiB pages), which no B-tree page ever has. After any split
// that swaps pages, pcache1 therefore believes it may hold page 262145, and
// the next COMMIT walks the whole cache: with the writer's 64 MiB cache under
// a load of random inserts, that walk was about a tenth of the server's CPU.
//
// The wrapper forwards every call to pcache1 and tracks the largest page
// number that can really be cached, leaving out that temporary number; a
// truncation with nothing beyond the limit is not forwarded. Pages, memory
// and eviction stay pcache1's.
#pragma once

#include <cstdint>

namespace bookd::storage {

// Installs the wrapper as SQLite's page cache. Must run before SQLite
// initializes (before the first connection opens); returns false, leaving
// pcache1 in place, if SQLite refuses the configuration.
bool InstallPageCache();

struct PageCacheStats {
  std::uint64_t truncations_forwarded = 0;
  std::uint64_t truncations_skipped = 0;
  std::uint64_t swap_numbers_lent = 0;  // each would have made pcache1 walk at COMMIT
};

// Process-wide counters, for tests and diagnostics.
PageCacheStats GetPageCacheStats();

}  // namespace bookd::storage
