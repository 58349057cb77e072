// The CPU caching allocator (blocks are rounded up to size classes and kept on free lists,
// so a steady-state training step reuses memory instead of paging it in again from the
// system), allocator_for(device), and the public counters of duet/memory.h.
#ifdef __linux__
#include <sys/sysinfo.h>
#endif

#include <cstdlib>
#include <limits>
#include <string>

#include "core/allocator.h"
#include "core/caching_allocator.h"
#include "core/device_backend.h"
#include "duet/error.h"
#include "duet/memory.h"

namespace duet::detail {
namespace {

// Blocks of 64-byte aligned host memory; large requests round to 1/8 of their power of two
// (<= 12.5% slack), and current/peak count the rounded size.
class CpuAllocator final : public CachingAllocator {
 public:
  CpuAllocator() : CachingAllocator("cpu allocator", 8) {}

 protected:
  // A request larger than the machine's memory and swap fails here, not in the kernel's OOM
  // killer when its pages are touched (with overcommit, aligned_alloc could succeed), nor in a
  // sanitizer's allocator (which aborts on huge requests).
  void* system_alloc(size_t bytes) override {
    if (bytes > machine_bytes()) return nullptr;
    return std::aligned_alloc(64, bytes);
  }
  void system_free(void* ptr, size_t) override { std::free(ptr); }
  std::string out_of_memory_detail() const override {
    return detail::cat("; this machine has ", format_bytes(static_cast<int64_t>(machine_bytes())),
                       " of memory and swap");
  }

 private:
  static size_t machine_bytes() {
    static const size_t total = [] {
#ifdef __linux__
      struct sysinfo si {};
      if (sysinfo(&si) == 0) return (static_cast<size_t>(si.totalram) + si.totalswap) * si.mem_unit;
#endif
      return std::numeric_limits<size_t>::max();
    }();
    return total;
  }
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
