// The caching logic both device allocators share: size classes, per-class free lists, the
// byte counters and the limit. A device supplies how blocks are obtained from and returned to
// the system, and how a request is counted.
//
//   class CpuAllocator final : public CachingAllocator {
//     void* system_alloc(size_t bytes) override { return std::aligned_alloc(64, bytes); }
//     void system_free(void* p, size_t) override { std::free(p); }
//     ...
//   };
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/allocator.h"

namespace duet::detail {

class CachingAllocator : public Allocator {
 public:
  // `name` starts error messages ("cpu allocator", "cuda:0 allocator"). Requests up to 1 MiB
  // round to 512 B; larger ones to 1/`large_steps` of the power of two below them.
  CachingAllocator(std::string name, size_t large_steps);

  void* allocate(size_t nbytes) final;
  void deallocate(void* ptr, size_t nbytes) final;
  MemoryStats stats() const override;
  void reset_peak() final;
  void empty_cache() final;
  void set_limit(int64_t bytes) final;

  size_t size_class(size_t nbytes) const;

 protected:
  // A fresh block of `bytes` from the system, or null when there is no memory.
  virtual void* system_alloc(size_t bytes) = 0;
  virtual void system_free(void* ptr, size_t bytes) = 0;
  // What a live block of `nbytes` adds to current/peak (default: its size class).
  virtual size_t counted_bytes(size_t nbytes) const { return size_class(nbytes); }
  // Runs before cached blocks go back to the system (e.g. wait for queued GPU work).
  virtual void before_release() {}
  // Appended to the out-of-memory message after the counters (e.g. the device's free bytes).
  virtual std::string out_of_memory_detail() const { return ""; }
  // Called with the lock held, before anything else in allocate (e.g. select the device).
  virtual void prepare() {}

  const std::string& name() const { return name_; }

 private:
  void release_cached();  // mu_ held

  std::string name_;
  size_t large_steps_;
  mutable std::mutex mu_;
  MemoryStats stats_;
  std::map<size_t, std::vector<void*>> free_;
  int64_t limit_ = 0;
};

}  // namespace duet::detail
