#include "core/caching_allocator.h"

#include <bit>
#include <limits>

#include "duet/error.h"
#include "duet/memory.h"
#include "profiler/hooks.h"

namespace duet::detail {

CachingAllocator::CachingAllocator(std::string name, size_t large_steps)
    : name_(std::move(name)), large_steps_(large_steps) {}

size_t CachingAllocator::size_class(size_t n) const {
  if (n == 0) n = 1;
  if (n <= (size_t{1} << 20)) return (n + 511) & ~size_t{511};
  const size_t step = std::bit_floor(n) / large_steps_;
  return (n + step - 1) / step * step;
}

void* CachingAllocator::allocate(size_t nbytes) {
  const size_t cls = size_class(nbytes);
  // Sizes past int64 (size classes round up by <= 12.5%) can never be served.
  DUET_CHECK(nbytes <= static_cast<size_t>(std::numeric_limits<int64_t>::max()) / 2, name_,
             ": cannot allocate ", nbytes, " bytes (more than any device holds)");
  const int64_t counted = static_cast<int64_t>(counted_bytes(nbytes));
  std::lock_guard<std::mutex> lock(mu_);
  prepare();
  DUET_CHECK(limit_ == 0 || counted <= limit_ - stats_.current_bytes, name_,
             ": out of memory allocating ", nbytes, " bytes = ",
             format_bytes(static_cast<int64_t>(nbytes)), " (", format_bytes(stats_.current_bytes),
             " allocated, ", format_bytes(stats_.reserved_bytes), " reserved, limit ",
             format_bytes(limit_), " set by set_memory_limit)");
  void* p = nullptr;
  auto it = free_.find(cls);
  if (it != free_.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
  } else {
    p = system_alloc(cls);
    if (!p) {  // give the cache back to the system and try once more
      release_cached();
      p = system_alloc(cls);
    }
    DUET_CHECK(p, name_, ": out of memory allocating ", nbytes, " bytes = ",
               format_bytes(static_cast<int64_t>(nbytes)), " (", format_bytes(stats_.current_bytes),
               " allocated, ", format_bytes(stats_.reserved_bytes), " reserved",
               out_of_memory_detail(), ")");
    stats_.reserved_bytes += static_cast<int64_t>(cls);
    stats_.num_device_mallocs++;
  }
  stats_.current_bytes += counted;
  stats_.num_allocs++;
  if (stats_.current_bytes > stats_.peak_bytes) stats_.peak_bytes = stats_.current_bytes;
  profiler::detail::note_alloc(nbytes);  // the requested size, on this thread (duet/profiler.h)
  return p;
}

void CachingAllocator::deallocate(void* ptr, size_t nbytes) {
  if (!ptr) return;
  profiler::detail::note_free(nbytes);
  std::lock_guard<std::mutex> lock(mu_);
  stats_.current_bytes -= static_cast<int64_t>(counted_bytes(nbytes));
  stats_.num_frees++;
  free_[size_class(nbytes)].push_back(ptr);
}

MemoryStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void CachingAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.peak_bytes = stats_.current_bytes;
  stats_.num_allocs = 0;
  stats_.num_frees = 0;
  stats_.num_device_mallocs = 0;
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  prepare();
  release_cached();
}

void CachingAllocator::set_limit(int64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  limit_ = bytes;
}

void CachingAllocator::release_cached() {
  before_release();
  for (auto& [cls, blocks] : free_) {
    for (void* b : blocks) system_free(b, cls);
    stats_.reserved_bytes -= static_cast<int64_t>(cls * blocks.size());
  }
  free_.clear();
}

}  // namespace duet::detail
