#include "storage/store.h"

namespace bookd::storage {

// StoreStats::batch_size_buckets has one more entry than these bounds: entry
// i counts batches of size <= bounds[i] (and > bounds[i-1]); the last entry
// counts batches larger than every bound. Counts are not cumulative.
const std::vector<std::uint64_t>& BatchSizeBounds() {
  static const std::vector<std::uint64_t> bounds = {1,   2,   4,   8,    16,   32,  64,
                                                    128, 256, 512, 1024, 2048, 4096};
  return bounds;
}

}  // namespace bookd::storage
