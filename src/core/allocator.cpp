// CPU caching allocator: blocks are rounded up to size classes and kept on free lists, so a
// steady-state training step reuses memory instead of paging it in again from the system.
#include "core/allocator.h"

#include "core/device_backend.h"

#include <atomic>
#include <bit>
#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

#include "duet/error.h"

namespace duet::detail {
namespace {

constexpr size_t kAlign = 64;

// Small blocks round to 512 B; large ones to 1/8 of their power of two (<= 12.5% slack).
size_t size_class(size_t n) {
  if (n == 0) n = 1;
  if (n <= (size_t{1} << 20)) return (n + 511) & ~size_t{511};
  size_t p = std::bit_floor(n);
  size_t step = p / 8;
  return (n + step - 1) / step * step;
}

class CpuAllocator final : public Allocator {
 public:
  void* allocate(size_t nbytes) override {
    size_t cls = size_class(nbytes);
    std::lock_guard<std::mutex> lock(mu_);
    DUET_CHECK(limit_ == 0 || stats_.current_bytes + static_cast<int64_t>(cls) <= limit_,
               "cpu allocator: out of memory allocating ", cls, " bytes (", stats_.current_bytes,
               " allocated, ", stats_.reserved_bytes, " reserved, limit ", limit_,
               " set by set_memory_limit)");
    void* p = nullptr;
    auto it = free_.find(cls);
    if (it != free_.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
    } else {
      p = std::aligned_alloc(kAlign, cls);
      if (!p) {  // give the cache back to the system and try once more
        release_cached();
        p = std::aligned_alloc(kAlign, cls);
      }
      DUET_CHECK(p, "cpu allocator: out of memory allocating ", cls, " bytes (",
                 stats_.current_bytes, " allocated, ", stats_.reserved_bytes, " reserved)");
      stats_.reserved_bytes += static_cast<int64_t>(cls);
    }
    stats_.current_bytes += static_cast<int64_t>(cls);
    stats_.num_allocs++;
    if (stats_.current_bytes > stats_.peak_bytes) stats_.peak_bytes = stats_.current_bytes;
    return p;
  }

  void deallocate(void* ptr, size_t nbytes) override {
    if (!ptr) return;
    size_t cls = size_class(nbytes);
    std::lock_guard<std::mutex> lock(mu_);
    stats_.current_bytes -= static_cast<int64_t>(cls);
    stats_.num_frees++;
    free_[cls].push_back(ptr);
  }

  MemoryStats stats() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

  void reset_peak() override {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.peak_bytes = stats_.current_bytes;
    stats_.num_allocs = 0;
    stats_.num_frees = 0;
  }

  void empty_cache() override {
    std::lock_guard<std::mutex> lock(mu_);
    release_cached();
  }

  void set_limit(int64_t bytes) override {
    std::lock_guard<std::mutex> lock(mu_);
    limit_ = bytes;
  }

 private:
  void release_cached() {  // mu_ held
    for (auto& [cls, blocks] : free_) {
      for (void* b : blocks) std::free(b);
      stats_.reserved_bytes -= static_cast<int64_t>(cls * blocks.size());
    }
    free_.clear();
  }

  mutable std::mutex mu_;
  MemoryStats stats_;
  std::map<size_t, std::vector<void*>> free_;
  int64_t limit_ = 0;
};

}  // namespace

Allocator& allocator_for(Device device) {
  static CpuAllocator* cpu_alloc = new CpuAllocator();  // leaked: outlives static tensors
  if (device.type == DeviceType::cuda) return cuda_allocator(device.index);
  return *cpu_alloc;
}

}  // namespace duet::detail

namespace duet {
MemoryStats memory_stats(Device device) {
  return detail::allocator_for(device).stats();
}
void reset_peak_memory(Device device) {
  detail::allocator_for(device).reset_peak();
}
void empty_cache(Device device) {
  detail::allocator_for(device).empty_cache();
}
void set_memory_limit(Device device, int64_t bytes) {
  DUET_CHECK(bytes >= 0, "set_memory_limit: limit must be >= 0 bytes (0 = none), got ", bytes);
  detail::allocator_for(device).set_limit(bytes);
}
}  // namespace duet
