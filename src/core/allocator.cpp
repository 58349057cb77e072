// The CPU caching allocator (blocks are rounded up to size classes and kept on free lists,
// so a steady-state training step reuses memory instead of paging it in again from the
// system), allocator_for(device), and the public counters of duet/memory.h.
#include <cstdlib>

#include "core/allocator.h"
#include "core/caching_allocator.h"
#include "core/device_backend.h"
#include "duet/error.h"

namespace duet::detail {
namespace {

// Blocks of 64-byte aligned host memory; large requests round to 1/8 of their power of two
// (<= 12.5% slack), and current/peak count the rounded size.
class CpuAllocator final : public CachingAllocator {
 public:
  CpuAllocator() : CachingAllocator("cpu allocator", 8) {}

 protected:
  void* system_alloc(size_t bytes) override { return std::aligned_alloc(64, bytes); }
  void system_free(void* ptr, size_t) override { std::free(ptr); }
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
