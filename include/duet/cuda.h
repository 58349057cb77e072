// The CUDA device: availability, device selection and backend settings.
//
//   if (duet::cuda_available()) {
//     auto x = duet::Tensor::randn({8, 3, 224, 224}, gen).to(duet::cuda);  // host -> device
//     auto y = model(x);                                      // cuDNN / cuBLAS / our kernels
//     std::cout << y.to(duet::cpu) << "\n";                   // device -> host
//     duet::MemoryStats s = duet::memory_stats(duet::cuda);   // the caching allocator
//   }
//   duet::set_cuda_allow_tf32(true);      // off by default: fp32 matmul and conv are exact fp32
//   duet::set_cuda_deterministic(true);   // only deterministic cuDNN algorithms
//
// Every CUDA tensor's kernels run on one stream per device, in call order; reading a value
// on the host (item, to_vector, printing, .to(cpu)) waits for them.
#pragma once

#include <cstdint>
#include <string>

#include "duet/dtype.h"

namespace duet {

inline constexpr Device cuda{DeviceType::cuda, 0};
// The CUDA device with this index (0-based, as in cudaSetDevice).
Device cuda_device(int index);

// The CUDA backend is a separate library, libduet_cuda.so, that libduet loads on the first
// of these calls (or the first use of a CUDA device), from $DUET_CUDA_BACKEND (its path),
// the directories of $DUET_BACKEND_PATH, the directory of libduet.so, or the install libdir
// (docs/cuda.md). A CPU-only program never needs it, nor any CUDA library.
//
// True when the CUDA backend library is loaded (found, and built for this libduet).
bool cuda_built();
// Devices visible to this process; 0 without the backend, a driver or a GPU.
int cuda_device_count();
inline bool cuda_available() {
  return cuda_device_count() > 0;
}
// Why there is no CUDA device ("" when cuda_available()): the backend library was not found
// (and where duet looked), was found but could not be loaded (a missing CUDA library), no
// CUDA driver, or no device. The "device cuda:N is not available" errors quote it.
std::string cuda_unavailable_reason();
// The path of the loaded backend library ("" when none is loaded).
std::string cuda_backend_path();

// "cpu", "cuda" or "cuda:N". Throws duet::Error naming the device when it is unknown or not
// available (no CUDA backend in this build, no GPU, or an index past the last device).
Device parse_device(const std::string& name);
// Throws the same errors for a Device value.
void check_device_available(Device device);

// Waits for all work queued on the device (no-op for the CPU).
void synchronize(Device device);

// Times the host has waited for a CUDA device so far in this process: synchronize(),
// device-to-host copies (item, to_vector, .to(cpu)), empty_cache, and cuDNN's one-off
// algorithm search per conv shape. A steady-state eager step that reads no value makes none.
int64_t cuda_sync_count();

// cudaMemGetInfo for the device: bytes free and in total, for every process on the GPU.
struct DeviceMemoryInfo {
  int64_t free_bytes = 0;
  int64_t total_bytes = 0;
};
DeviceMemoryInfo device_memory_info(Device device);

// ---- backend settings (process-wide; read when a kernel is planned) ----
// TF32 tensor-core math for fp32 matmul and conv. Off by default (bit-faithful fp32).
void set_cuda_allow_tf32(bool allow);
bool cuda_allow_tf32();
// Only deterministic cuDNN algorithms (run-to-run identical bits). Off by default.
void set_cuda_deterministic(bool deterministic);
bool cuda_deterministic();
// The most workspace one cuDNN call may use; algorithms that need more are skipped.
// Default 1 GiB.
void set_cuda_workspace_limit(int64_t bytes);
int64_t cuda_workspace_limit();

}  // namespace duet
