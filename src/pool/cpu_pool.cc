#include "pool/cpu_pool.h"

#include <boost/asio/post.hpp>

namespace bookd::pool {

CpuPool::CpuPool(std::size_t threads, std::size_t queue_max)
    : threads_(threads), queue_max_(queue_max), pool_(threads) {}

CpuPool::~CpuPool() { Join(); }

bool CpuPool::TrySubmit(std::function<void()> task) {
  // Reserve a place first so that concurrent callers cannot overshoot.
  std::size_t now = depth_.fetch_add(1, std::memory_order_acq_rel);
  if (now >= queue_max_) {
    depth_.fetch_sub(1, std::memory_order_acq_rel);
    return false;
  }
  boost::asio::post(pool_, [this, task = std::move(task)] {
    task();
    depth_.fetch_sub(1, std::memory_order_acq_rel);
  });
  return true;
}

void CpuPool::Join() { pool_.join(); }

}  // namespace bookd::pool
