// A counter shared by every process that opens one SQLite database, bumped
// after each key revocation: it lets every connection answer key lookups from
// memory and still refuse a revoked key on the very next request.
//
// The counter is 8 bytes of a small file beside the database (<db>-keys),
// mapped shared into every process. Order of events that keeps a cache exact:
// a reader loads the counter *before* it reads the key from the database and
// files the answer under that value; a revoker bumps the counter *after* its
// COMMIT. A cached answer is used only while the counter still holds the value
// it was filed under, so any revocation committed after the reader's load
// shows up as a new value, and one committed before it is in the database
// read. What this cannot see is a key revoked by another program than bookd
// (or by a process killed between COMMIT and bump): caches therefore also
// re-read every key at least once a second.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"

namespace bookd::storage {

static_assert(std::atomic_ref<std::uint64_t>::is_always_lock_free);

class KeyEpoch {
 public:
  // Maps (creating when missing) the counter file at `path`.
  static Result<std::shared_ptr<KeyEpoch>> Open(const std::string& path);
  ~KeyEpoch();
  KeyEpoch(const KeyEpoch&) = delete;
  KeyEpoch& operator=(const KeyEpoch&) = delete;

  std::uint64_t Load() const {
    return std::atomic_ref<std::uint64_t>(*counter_).load(std::memory_order_acquire);
  }
  void Bump() { std::atomic_ref<std::uint64_t>(*counter_).fetch_add(1, std::memory_order_acq_rel); }

 private:
  KeyEpoch(void* map, std::size_t bytes)
      : map_(map), bytes_(bytes), counter_(static_cast<std::uint64_t*>(map)) {}

  void* map_;
  std::size_t bytes_;
  std::uint64_t* counter_;  // in the shared mapping: lock-free atomics work across processes
};

}  // namespace bookd::storage
