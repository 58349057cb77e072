// Device allocators with byte counters. Every tensor's storage comes from here.
#pragma once

#include <cstddef>

#include "duet/memory.h"

namespace duet::detail {

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* ptr, size_t nbytes) = 0;
  virtual MemoryStats stats() const = 0;
  virtual void reset_peak() = 0;
  // Returns cached free blocks to the system.
  virtual void empty_cache() = 0;
  // Allocations that would take current_bytes over `bytes` throw (0: no limit).
  virtual void set_limit(int64_t bytes) = 0;
};

// The allocator for a device; throws duet::Error for a device with no backend compiled in.
Allocator& allocator_for(Device device);

}  // namespace duet::detail
