#include "storage/command_queue.h"

#include <algorithm>
#include <cassert>
#include <optional>
#include <utility>

namespace bookd::storage {
namespace {

std::string InFlightKey(const Idempotency& idem) {
  std::string key = idem.key_id;
  key += '\0';
  key += idem.key;
  return key;
}

}  // namespace

CommandQueue::CommandQueue(std::size_t commands_max)
    : commands_max_(commands_max), buckets_(BatchSizeBounds().size() + 1) {}

void CommandQueue::Submit(Command cmd) {
  std::optional<Error> refused;
  {
    std::lock_guard lock(mu_);
    if (closed_) {
      refused = Error::Overloaded("the store is shutting down");
    } else if (queue_.size() >= commands_max_) {
      refused = Error::Overloaded("too many writes are waiting; retry later");
    } else if (cmd.idempotency && !in_flight_.insert(InFlightKey(*cmd.idempotency)).second) {
      refused =
          MakeError(Errc::kConflict, "a request with this Idempotency-Key is still in progress");
    } else {
      queue_.push_back(std::move(cmd));
    }
  }
  if (refused) {
    cmd.done(WriteOutcome{std::move(*refused), std::nullopt});
    return;
  }
  wake_.notify_one();
}

bool CommandQueue::TakeBatch(std::vector<Command>& batch, std::size_t max) {
  assert(batch.empty() && max > 0);
  {
    std::unique_lock lock(mu_);
    wake_.wait(lock, [this] { return closed_ || !queue_.empty(); });
    if (queue_.empty()) return false;  // closed and drained
    const std::size_t n = std::min(queue_.size(), max);
    for (std::size_t i = 0; i < n; ++i) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
  }
  batches_.fetch_add(1, std::memory_order_relaxed);
  batched_commands_.fetch_add(batch.size(), std::memory_order_relaxed);
  const auto& bounds = BatchSizeBounds();
  const auto at = std::lower_bound(bounds.begin(), bounds.end(), batch.size()) - bounds.begin();
  buckets_[static_cast<std::size_t>(at)].fetch_add(1, std::memory_order_relaxed);
  return true;
}

void CommandQueue::Answer(std::vector<Command>& cmds, std::vector<WriteOutcome>& outcomes) {
  assert(cmds.size() == outcomes.size());
  {
    std::lock_guard lock(mu_);
    for (const Command& cmd : cmds) {
      if (cmd.idempotency) in_flight_.erase(InFlightKey(*cmd.idempotency));
    }
  }
  for (std::size_t i = 0; i < cmds.size(); ++i) cmds[i].done(std::move(outcomes[i]));
}

void CommandQueue::Close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  wake_.notify_all();
}

StoreStats CommandQueue::Stats() {
  StoreStats s;
  s.batches = batches_.load(std::memory_order_relaxed);
  s.batched_commands = batched_commands_.load(std::memory_order_relaxed);
  for (const auto& b : buckets_) s.batch_size_buckets.push_back(b.load(std::memory_order_relaxed));
  std::lock_guard lock(mu_);
  s.queue_depth = queue_.size();
  return s;
}

}  // namespace bookd::storage
