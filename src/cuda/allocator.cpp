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
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/caching_allocator.h"
#include "core/device_backend.h"
#include "cuda/runtime.h"
#include "duet/cuda.h"
#include "duet/memory.h"

namespace duet {
namespace detail {
namespace {

size_t round512(size_t n) {
  return ((n == 0 ? 1 : n) + 511) & ~size_t{511};
}

// Size classes: 512 B steps up to 1 MiB, then 1/16 of the power of two below (<= 6.25%
// slack), so blocks of similar sizes share a free list.
class CudaAllocator final : public CachingAllocator {
 public:
  explicit CudaAllocator(int index)
      : CachingAllocator("cuda:" + std::to_string(index) + " allocator", 16), index_(index) {}

  MemoryStats stats() const override {
    MemoryStats s = CachingAllocator::stats();
    int64_t free_b = 0, total_b = 0;
    cuda_backend::memory_info(index_, &free_b, &total_b);
    s.device_used_bytes = total_b - free_b;
    s.device_total_bytes = total_b;
    return s;
  }

 protected:
  void* system_alloc(size_t bytes) override {
    void* p = nullptr;
    if (cudaMalloc(&p, bytes) == cudaSuccess) return p;
    cudaGetLastError();  // clear the error; the caller frees the cache and retries, or throws
    return nullptr;
  }
  void system_free(void* ptr, size_t) override { cudaFree(ptr); }
  // What torch.cuda.memory_allocated counts: the request rounded up to 512 bytes.
  size_t counted_bytes(size_t nbytes) const override { return round512(nbytes); }
  void prepare() override { cuda_backend::context(index_); }  // the current device
  // A cached block may still be read by queued kernels.
  void before_release() override {
    note_cuda_sync();
    cudaStreamSynchronize(cuda_backend::context(index_).stream);
    cudaGetLastError();
  }
  std::string out_of_memory_detail() const override {
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    cudaGetLastError();
    return cat(" by duet; the device has ", format_bytes(static_cast<int64_t>(free_b)), " of ",
               format_bytes(static_cast<int64_t>(total_b)), " free");
  }

 private:
  int index_;
};

}  // namespace
}  // namespace detail

namespace cuda_backend {

// The loader (src/core/cuda_loader.cpp) has checked that the device exists.
detail::Allocator& allocator(int index) {
  using detail::CudaAllocator;
  static std::mutex mu;
  static auto* all = new std::vector<std::unique_ptr<CudaAllocator>>();  // outlives tensors
  std::lock_guard<std::mutex> lock(mu);
  if (static_cast<int>(all->size()) <= index) all->resize(index + 1);
  if (!(*all)[index]) (*all)[index] = std::make_unique<CudaAllocator>(index);
  return *(*all)[index];
}

CapturePool*& active_capture_pool() {
  thread_local CapturePool* pool = nullptr;
  return pool;
}

void* CapturePool::allocate(size_t nbytes) {
  const size_t size = detail::round512(nbytes);
  // Best fit among the pool's free blocks, up to twice the request; otherwise a new block.
  auto it = free_.lower_bound(size);
  if (it != free_.end() && it->first <= 2 * size) {
    void* p = it->second;
    free_.erase(it);
    return p;
  }
  context(device_);
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, size);
  if (e != cudaSuccess) {
    cudaGetLastError();
    throw Error(detail::cat("cuda:", device_, " CUDA Graph scratch pool: out of memory allocating ",
                            size, " bytes = ", format_bytes(static_cast<int64_t>(size)),
                            " (the pool holds ", format_bytes(bytes_),
                            "); expected the step's scratch to fit on the device"));
  }
  blocks_.push_back({p, size});
  bytes_ += static_cast<int64_t>(size);
  return p;
}

void CapturePool::deallocate(void* ptr, size_t) {
  for (const auto& [p, size] : blocks_)
    if (p == ptr) {
      free_.emplace(size, p);
      return;
    }
}

CapturePool::~CapturePool() {
  if (blocks_.empty()) return;
  // A replay queued earlier may still read the blocks.
  detail::note_cuda_sync();
  cudaSetDevice(device_);
  cudaStreamSynchronize(context(device_).stream);
  for (const auto& [p, size] : blocks_) cudaFree(p);
  cudaGetLastError();
}

Workspace::Workspace(size_t nbytes, Device device)
    : nbytes_(nbytes), device_(device), pool_(active_capture_pool()) {
  if (!nbytes) return;
  data_ = pool_ ? pool_->allocate(nbytes) : allocator(device.index).allocate(nbytes);
}
Workspace::~Workspace() {
  if (!data_) return;
  if (pool_)
    pool_->deallocate(data_, nbytes_);
  else
    allocator(device_.index).deallocate(data_, nbytes_);
}

}  // namespace cuda_backend
}  // namespace duet
