// The hand-off from the threads that submit writes to a store's writer
// threads, the same for every store: a bounded FIFO of Commands, the set of
// Idempotency-Keys queued or running, and the counters of the batches taken.
//
// Invariants:
//  1. Every Command given to Submit gets exactly one answer: at once when it
//     is refused, else from whoever took it (through Answer).
//  2. While a command with an Idempotency-Key is queued or running, a second
//     one with the same (key_id, key) is refused with kConflict. The pair is
//     released in Answer before any `done` runs, so a client that retries
//     after its answer finds what the first request stored.
//  3. After Close, Submit refuses with kOverloaded, and TakeBatch still hands
//     out what was queued before; it returns false only once that is gone.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "storage/store.h"

namespace bookd::storage {

class CommandQueue {
 public:
  explicit CommandQueue(std::size_t commands_max);

  CommandQueue(const CommandQueue&) = delete;
  CommandQueue& operator=(const CommandQueue&) = delete;

  // Queues `cmd`, or answers it on this thread: kOverloaded (Retry-After 1)
  // when the queue is full or closed, kConflict when its Idempotency-Key is
  // in flight.
  void Submit(Command cmd);

  // Blocks until something is queued, then moves up to `max` commands into
  // the empty `batch`, oldest first, and counts the batch. False: closed and
  // drained, `batch` left empty.
  bool TakeBatch(std::vector<Command>& batch, std::size_t max);

  // Answers taken commands, outcomes[i] to cmds[i]: releases their keys, then
  // runs each `done` outside the lock.
  void Answer(std::vector<Command>& cmds, std::vector<WriteOutcome>& outcomes);

  // Refuses further commands and wakes every TakeBatch. Idempotent.
  void Close();

  // Batches and commands taken so far, batch sizes by BatchSizeBounds(), and
  // the commands waiting now.
  StoreStats Stats();

 private:
  const std::size_t commands_max_;

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Command> queue_;                  // GUARDED_BY(mu_)
  std::unordered_set<std::string> in_flight_;  // GUARDED_BY(mu_)
  bool closed_ = false;                        // GUARDED_BY(mu_)

  std::atomic<std::uint64_t> batches_{0};
  std::atomic<std::uint64_t> batched_commands_{0};
  std::vector<std::atomic<std::uint64_t>> buckets_;
};

}  // namespace bookd::storage
