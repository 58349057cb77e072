// The CUDA runtime behind the backend: per-device stream, cuBLAS and cuDNN handles, error
// checks, launch helpers. Only compiled with DUET_CUDA; included by src/cuda/ and
// kernels/cuda/ (plain C++ and .cu alike).
//
// Kernels run on context(index).stream, one stream per device, so work is ordered as the
// ops were called and a freed block can be reused by the next op without a sync. Graph mode
// captures that same stream into a CUDA Graph (src/cuda/cuda_graph.cpp).
//
//   auto& ctx = duet::cuda_backend::context_for(t);   // sets the current device
//   my_kernel<<<blocks(n), kThreads, 0, ctx.stream>>>(...);
//   DUET_CUDA_CHECK(cudaGetLastError());
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <cstdint>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "core/allocator.h"
#include "duet/error.h"
#include "duet/tensor.h"

namespace duet::cuda_backend {

[[noreturn]] void throw_cuda_error(cudaError_t e, const char* expr, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t s, const char* expr, const char* file,
                                     int line);
[[noreturn]] void throw_cudnn_error(cudnnStatus_t s, const char* expr, const char* file, int line);

#define DUET_CUDA_CHECK(expr)                                                     \
  do {                                                                            \
    cudaError_t duet_e_ = (expr);                                                 \
    if (duet_e_ != cudaSuccess)                                                   \
      ::duet::cuda_backend::throw_cuda_error(duet_e_, #expr, __FILE__, __LINE__); \
  } while (0)
#define DUET_CUBLAS_CHECK(expr)                                                     \
  do {                                                                              \
    cublasStatus_t duet_s_ = (expr);                                                \
    if (duet_s_ != CUBLAS_STATUS_SUCCESS)                                           \
      ::duet::cuda_backend::throw_cublas_error(duet_s_, #expr, __FILE__, __LINE__); \
  } while (0)
#define DUET_CUDNN_CHECK(expr)                                                     \
  do {                                                                             \
    cudnnStatus_t duet_s_ = (expr);                                                \
    if (duet_s_ != CUDNN_STATUS_SUCCESS)                                           \
      ::duet::cuda_backend::throw_cudnn_error(duet_s_, #expr, __FILE__, __LINE__); \
  } while (0)
// After a <<<...>>> launch.
#define DUET_CUDA_CHECK_LAUNCH() DUET_CUDA_CHECK(cudaGetLastError())

// One per device, created on first use and kept for the life of the process.
struct DeviceContext {
  int index = 0;
  cudaStream_t stream = nullptr;  // every kernel of this device runs here
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;
  cudaDeviceProp props{};
};

// Makes `index` the current device and returns its context (throws duet::Error if there
// is no such device).
DeviceContext& context(int index);
inline DeviceContext& context(Device d) {
  return context(d.index);
}
inline DeviceContext& context_for(const Tensor& t) {
  return context(t.device().index);
}
// The stream of the tensor's device (and makes that device current).
inline cudaStream_t stream_for(const Tensor& t) {
  return context_for(t).stream;
}

// Device memory owned by one CUDA Graph (detail::CudaGraph): blocks the graph's kernels
// took as scratch while it was captured. They are reused only by later requests of the same
// capture (stream order makes that safe) and never handed to anyone else, so the addresses
// the graph baked in stay valid for every replay. Freed (after a device sync) with the pool.
class CapturePool {
 public:
  explicit CapturePool(int device) : device_(device) {}
  ~CapturePool();
  CapturePool(const CapturePool&) = delete;
  CapturePool& operator=(const CapturePool&) = delete;
  void* allocate(size_t nbytes);  // throws duet::Error when the device is out of memory
  void deallocate(void* ptr, size_t nbytes);
  int64_t bytes() const { return bytes_; }  // all blocks, free or in use

 private:
  int device_;
  int64_t bytes_ = 0;
  std::vector<std::pair<void*, size_t>> blocks_;  // every block (ptr, size)
  std::multimap<size_t, void*> free_;             // size -> free block
};
// The pool Workspaces come from on this thread while a CUDA Graph is being captured (null
// otherwise); set by detail::CudaGraph::begin/end.
CapturePool*& active_capture_pool();

// Scratch device memory from the caching allocator (or, while a CUDA Graph is being captured
// on this thread, from that graph's pool), returned when this goes out of scope
// (stream-ordered: later kernels on the same stream may reuse it at once).
class Workspace {
 public:
  Workspace() = default;
  Workspace(size_t nbytes, Device device);
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  void* data() const { return data_; }
  size_t size() const { return nbytes_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  CapturePool* pool_ = nullptr;
};

// ---- what the backend hands the loader (src/cuda/plugin.cpp, core/cuda_backend_abi.h) ----
// Fills every op's CUDA kernel and workspace slots (src/cuda/kernel_registry.cpp).
void register_kernels();
// Visible devices; 0 with *why (a static string) saying why: no driver, an old driver, no GPU.
int device_count(const char** why);
void synchronize(int index);  // waits for the device's stream (counted by cuda_sync_count)
void memory_info(int index, int64_t* free_bytes, int64_t* total_bytes);  // cudaMemGetInfo
// The caching allocator of device `index` (src/cuda/allocator.cpp).
detail::Allocator& allocator(int index);
// device_backend.h's cuda_copy, cuda_fill and cuda_write_int64 (src/cuda/copy.cpp).
void copy_tensor(const Tensor& src, const Tensor& dst);
void fill_tensor(const Tensor& dst, double value);
void write_int64(const Tensor& dst, const int64_t* values, int64_t n);

// The profiler's CUDA events (src/cuda/events.cpp; device_backend.h's cuda_event_*).
void* event_record(int index);
double event_elapsed_ms(void* start, void* end);
void event_release(void* event) noexcept;

// One CUDA Graph capture (src/cuda/cuda_graph.cpp): what detail::CudaGraph forwards to.
class GraphCapture {
 public:
  explicit GraphCapture(Device device);
  ~GraphCapture();
  GraphCapture(const GraphCapture&) = delete;
  GraphCapture& operator=(const GraphCapture&) = delete;
  void begin();
  void end();
  void abort() noexcept;
  void launch();
  bool ready() const;
  size_t num_nodes() const;
  int64_t scratch_bytes() const;

 private:
  struct Impl;
  Device device_;
  std::unique_ptr<Impl> impl_;
};

// Launch geometry for flat element loops (grid-stride loops cover any n).
inline constexpr int kThreads = 256;
inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > 65535 * 8) b = 65535 * 8;
  return static_cast<unsigned>(b);
}

// Tensor metadata packed for passing by value to a kernel (rank <= kMaxDims).
inline constexpr int kMaxDims = 8;
struct StridedMeta {
  int rank = 0;
  int64_t sizes[kMaxDims];
  int64_t strides[kMaxDims];  // elements
};
// Throws duet::Error (naming `op`) when t has more than kMaxDims dimensions.
StridedMeta strided_meta(const Tensor& t, const char* op);
// `t`'s strides as seen from a tensor of shape `out` (broadcast: stride 0 where t has size 1
// or is missing). t.shape() must broadcast to out.
StridedMeta broadcast_meta(const Tensor& t, const Shape& out, const char* op);

}  // namespace duet::cuda_backend
