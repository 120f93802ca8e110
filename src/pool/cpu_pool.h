// A bounded pool for CPU-heavy work (availability search, long slot ranges),
// so that the threads serving connections never stall on it. Built on Asio's
// thread_pool; the bound is ours: Asio's queue is unbounded, so TrySubmit
// refuses work once `queue_max` tasks are waiting or running, and the caller
// answers 503 overloaded instead of growing memory.
#pragma once

#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <cstddef>
#include <functional>

namespace bookd::pool {

class CpuPool {
 public:
  CpuPool(std::size_t threads, std::size_t queue_max);
  ~CpuPool();
  CpuPool(const CpuPool&) = delete;
  CpuPool& operator=(const CpuPool&) = delete;

  // Runs `task` on a pool thread. False (and `task` dropped) when full.
  [[nodiscard]] bool TrySubmit(std::function<void()> task);

  std::size_t depth() const { return depth_.load(std::memory_order_relaxed); }
  std::size_t threads() const { return threads_; }

  void Join();

 private:
  std::size_t threads_;
  std::size_t queue_max_;
  std::atomic<std::size_t> depth_{0};
  boost::asio::thread_pool pool_;
};

}  // namespace bookd::pool
