// Per-device contexts (stream, cuBLAS and cuDNN handles), error reporting, and the device
// queries the loader forwards (device_count, synchronize, memory_info; src/cuda/plugin.cpp).
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/device_backend.h"
#include "cuda/runtime.h"
#include "duet/cuda.h"

namespace duet {
namespace cuda_backend {

void throw_cuda_error(cudaError_t e, const char* expr, const char* file, int line) {
  cudaGetLastError();  // clear the sticky-free error state so later calls can go on
  throw Error(detail::cat("CUDA error ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ") in ",
                          expr, " at ", file, ":", line));
}
void throw_cublas_error(cublasStatus_t s, const char* expr, const char* file, int line) {
  throw Error(detail::cat("cuBLAS error ", cublasGetStatusName(s), " (", cublasGetStatusString(s),
                          ") in ", expr, " at ", file, ":", line));
}
void throw_cudnn_error(cudnnStatus_t s, const char* expr, const char* file, int line) {
  throw Error(
      detail::cat("cuDNN error ", cudnnGetErrorString(s), " in ", expr, " at ", file, ":", line));
}

namespace {

// cuBLAS workspace per device: 32 MiB, what NVIDIA recommends for Hopper (4 MiB suffices
// before it); leaked with the context on purpose (used until process exit).
constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;

// Visible devices; 0 with the reason in `why`: no driver, a driver older than the runtime,
// no device.
int query_device_count(std::string& why) {
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);  // 0: libcuda.so.1 (the NVIDIA driver) is missing
  cudaRuntimeGetVersion(&runtime);
  cudaGetLastError();
  if (driver == 0) {
    why =
        "no CUDA driver is installed (libcuda.so.1, which comes with the NVIDIA driver, "
        "could not be loaded)";
    return 0;
  }
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  cudaGetLastError();
  if (e == cudaErrorInsufficientDriver) {
    why = detail::cat("the CUDA driver (version ", driver,
                      ") is older than the CUDA runtime "
                      "the backend was built with (version ",
                      runtime, ")");
    return 0;
  }
  if (e != cudaSuccess || n <= 0) {
    why = detail::cat("no CUDA device is visible to this process (",
                      e == cudaSuccess ? "none" : cudaGetErrorName(e),
                      " from cudaGetDeviceCount: no GPU, or "
                      "CUDA_VISIBLE_DEVICES hides it)");
    return 0;
  }
  return n;
}

std::mutex& contexts_mutex() {
  static std::mutex m;
  return m;
}
std::vector<std::unique_ptr<DeviceContext>>& contexts() {
  static auto* v = new std::vector<std::unique_ptr<DeviceContext>>();  // leaked on purpose
  return *v;
}

}  // namespace

DeviceContext& context(int index) {
  check_device_available(Device{DeviceType::cuda, index});
  DUET_CUDA_CHECK(cudaSetDevice(index));
  std::lock_guard<std::mutex> lock(contexts_mutex());
  auto& all = contexts();
  if (static_cast<int>(all.size()) <= index) all.resize(index + 1);
  if (!all[index]) {
    auto ctx = std::make_unique<DeviceContext>();
    ctx->index = index;
    DUET_CUDA_CHECK(cudaGetDeviceProperties(&ctx->props, index));
    DUET_CUDA_CHECK(cudaStreamCreateWithFlags(&ctx->stream, cudaStreamNonBlocking));
    DUET_CUBLAS_CHECK(cublasCreate(&ctx->cublas));
    DUET_CUBLAS_CHECK(cublasSetStream(ctx->cublas, ctx->stream));
    // cuBLAS's own workspace, set once: without it cuBLAS allocates on first use per stream,
    // which must not happen inside a CUDA Graph capture. Straight from cudaMalloc (not the
    // caching allocator: it lives as long as the context; not in memory_stats' current or
    // reserved bytes, only in device_used_bytes). Note: cublasSetStream resets it, so no
    // cublasSetStream after this.
    void* cublas_ws = nullptr;
    DUET_CUDA_CHECK(cudaMalloc(&cublas_ws, kCublasWorkspaceBytes));
    DUET_CUBLAS_CHECK(cublasSetWorkspace(ctx->cublas, cublas_ws, kCublasWorkspaceBytes));
    DUET_CUDNN_CHECK(cudnnCreate(&ctx->cudnn));
    DUET_CUDNN_CHECK(cudnnSetStream(ctx->cudnn, ctx->stream));
    all[index] = std::move(ctx);
  }
  return *all[index];
}

int device_count(const char** why) {
  static std::string reason;
  static const int n = query_device_count(reason);
  *why = reason.c_str();
  return n;
}

void synchronize(int index) {
  auto& ctx = context(index);
  detail::note_cuda_sync();
  DUET_CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
}

void memory_info(int index, int64_t* free_bytes, int64_t* total_bytes) {
  context(index);  // current device
  size_t f = 0, t = 0;
  DUET_CUDA_CHECK(cudaMemGetInfo(&f, &t));
  *free_bytes = static_cast<int64_t>(f);
  *total_bytes = static_cast<int64_t>(t);
}

}  // namespace cuda_backend
}  // namespace duet
