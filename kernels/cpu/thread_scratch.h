// Per-thread scratch buffers kept between kernel calls (pool threads persist), so a kernel's
// column buffers are not page-faulted in on every call.
//
//   // in a kernel file: its own slots, one array per thread
//   template <class T>
//   T* scratch(int slot, int64_t count) {
//     thread_local ThreadScratch s[2];
//     return s[slot].get<T>(count, "conv2d");
//   }
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "duet/error.h"

namespace duet::cpu_kernels {

class ThreadScratch {
 public:
  ThreadScratch() = default;
  ThreadScratch(const ThreadScratch&) = delete;
  ThreadScratch& operator=(const ThreadScratch&) = delete;
  ~ThreadScratch() { std::free(p_); }
  // At least max(count, 1) elements of T, 64-byte aligned; the contents are not kept when it
  // grows. `who` names the kernel in the out-of-memory error.
  template <class T>
  T* get(int64_t count, const char* who) {
    const size_t bytes = static_cast<size_t>(std::max<int64_t>(count, 1)) * sizeof(T);
    if (bytes > cap_) {
      std::free(p_);
      p_ = nullptr;
      cap_ = 0;
      const size_t cap = (bytes + 63) / 64 * 64;
      p_ = std::aligned_alloc(64, cap);
      DUET_ASSERT(p_, who, ": out of memory allocating ", cap, " bytes of scratch");
      cap_ = cap;
    }
    return static_cast<T*>(p_);
  }

 private:
  void* p_ = nullptr;
  size_t cap_ = 0;
};

}  // namespace duet::cpu_kernels
