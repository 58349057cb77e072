// CUDA caching allocator, one per device: blocks are rounded to size classes and kept on free
// lists, so a steady-state step reuses device memory without cudaMalloc (which synchronises).
//
// Reuse is stream-ordered: all of a device's kernels run on its one stream, so a block freed
// on the host while a kernel still reads it can be handed to the next op at once; that op's
// kernels queue behind the reader.
//
// Counters: current/peak count each live block at its request rounded up to 512 bytes (what
// torch.cuda.memory_allocated counts); reserved counts the size classes obtained from
// cudaMalloc. device_used_bytes is cudaMemGetInfo's view of the whole GPU.
#include <bit>
#include <map>
#include <mutex>
#include <vector>

#include "core/device_backend.h"
#include "cuda/runtime.h"
#include "duet/cuda.h"

namespace duet {
namespace detail {
namespace {

size_t round512(size_t n) {
  return ((n == 0 ? 1 : n) + 511) & ~size_t{511};
}

// Up to 1 MiB: multiples of 512 B. Larger: multiples of 1/16 of the power of two below
// (at most 6.25% slack), so blocks of similar sizes share a free list.
size_t size_class(size_t n) {
  n = round512(n);
  if (n <= (size_t{1} << 20)) return n;
  size_t step = std::bit_floor(n) / 16;
  return (n + step - 1) / step * step;
}

class CudaAllocator final : public Allocator {
 public:
  explicit CudaAllocator(int index) : index_(index) {}

  void* allocate(size_t nbytes) override {
    const size_t cls = size_class(nbytes);
    const int64_t counted = static_cast<int64_t>(round512(nbytes));
    cuda_backend::context(index_);  // current device
    std::lock_guard<std::mutex> lock(mu_);
    DUET_CHECK(limit_ == 0 || stats_.current_bytes + counted <= limit_, "cuda:", index_,
               " allocator: out of memory allocating ", nbytes, " bytes (", stats_.current_bytes,
               " allocated, ", stats_.reserved_bytes, " reserved, limit ", limit_,
               " set by set_memory_limit)");
    void* p = nullptr;
    auto it = free_.find(cls);
    if (it != free_.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
    } else {
      cudaError_t e = cudaMalloc(&p, cls);
      if (e != cudaSuccess) {  // give the cache back to the driver and try once more
        cudaGetLastError();
        release_cached();
        e = cudaMalloc(&p, cls);
      }
      if (e != cudaSuccess) {
        cudaGetLastError();
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        cudaGetLastError();
        throw Error(cat("cuda:", index_, " allocator: out of memory allocating ", nbytes,
                        " bytes (", stats_.current_bytes, " allocated, ", stats_.reserved_bytes,
                        " reserved by duet; the device has ", free_b, " of ", total_b,
                        " bytes free): ", cudaGetErrorString(e)));
      }
      stats_.reserved_bytes += static_cast<int64_t>(cls);
      stats_.num_device_mallocs++;
    }
    stats_.current_bytes += counted;
    stats_.num_allocs++;
    if (stats_.current_bytes > stats_.peak_bytes) stats_.peak_bytes = stats_.current_bytes;
    return p;
  }

  void deallocate(void* ptr, size_t nbytes) override {
    if (!ptr) return;
    std::lock_guard<std::mutex> lock(mu_);
    stats_.current_bytes -= static_cast<int64_t>(round512(nbytes));
    stats_.num_frees++;
    free_[size_class(nbytes)].push_back(ptr);
  }

  MemoryStats stats() const override {
    MemoryStats s;
    {
      std::lock_guard<std::mutex> lock(mu_);
      s = stats_;
    }
    int64_t free_b = 0, total_b = 0;
    cuda_memory_info(index_, free_b, total_b);
    s.device_used_bytes = total_b - free_b;
    s.device_total_bytes = total_b;
    return s;
  }

  void reset_peak() override {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.peak_bytes = stats_.current_bytes;
    stats_.num_allocs = 0;
    stats_.num_frees = 0;
    stats_.num_device_mallocs = 0;
  }

  void empty_cache() override {
    cuda_backend::context(index_);
    std::lock_guard<std::mutex> lock(mu_);
    release_cached();
  }

  void set_limit(int64_t bytes) override {
    std::lock_guard<std::mutex> lock(mu_);
    limit_ = bytes;
  }

 private:
  // mu_ held. Waits for the device's queued work (a cached block may still be read by it).
  void release_cached() {
    cudaStreamSynchronize(cuda_backend::context(index_).stream);
    for (auto& [cls, blocks] : free_) {
      for (void* b : blocks) cudaFree(b);
      stats_.reserved_bytes -= static_cast<int64_t>(cls * blocks.size());
    }
    cudaGetLastError();
    free_.clear();
  }

  int index_;
  mutable std::mutex mu_;
  MemoryStats stats_;
  std::map<size_t, std::vector<void*>> free_;
  int64_t limit_ = 0;
};

}  // namespace

Allocator& cuda_allocator(int index) {
  check_device_available(Device{DeviceType::cuda, index});
  static std::mutex mu;
  static auto* all = new std::vector<std::unique_ptr<CudaAllocator>>();  // outlives tensors
  std::lock_guard<std::mutex> lock(mu);
  if (static_cast<int>(all->size()) <= index) all->resize(index + 1);
  if (!(*all)[index]) (*all)[index] = std::make_unique<CudaAllocator>(index);
  return *(*all)[index];
}

}  // namespace detail

namespace cuda_backend {

Workspace::Workspace(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  if (nbytes) data_ = detail::cuda_allocator(device.index).allocate(nbytes);
}
Workspace::~Workspace() {
  if (data_) detail::cuda_allocator(device_.index).deallocate(data_, nbytes_);
}

}  // namespace cuda_backend
}  // namespace duet
