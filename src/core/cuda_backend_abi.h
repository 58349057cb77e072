// The CUDA backend's function table: what libduet_cuda.so hands libduet when libduet loads it
// (src/core/cuda_loader.cpp). The plugin exports one extern "C" function, named by
// kCudaBackendEntry, that returns a pointer to a static table:
//
//   extern "C" const CudaBackendTable* duet_cuda_backend() {  // src/cuda/plugin.cpp
//     static const CudaBackendTable table = {.abi = kCudaBackendAbi, ...};
//     return &table;
//   }
//
// The entries take and return C++ types (Tensor, Allocator) and may throw duet::Error: the
// plugin links this libduet and is built from the same sources, which `abi`, `size` and
// `version` check before anything else is read. Change kCudaBackendAbi whenever an entry
// is added, removed or changes meaning.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/allocator.h"
#include "duet/tensor.h"

namespace duet::detail {

inline constexpr uint32_t kCudaBackendAbi = 2;  // 2: the profiler's CUDA events
inline constexpr const char* kCudaBackendEntry = "duet_cuda_backend";
// The file libduet looks for (docs/cuda.md, "The backend library").
inline constexpr const char* kCudaBackendFile = "libduet_cuda.so";

struct CudaBackendTable {
  uint32_t abi = 0;               // kCudaBackendAbi of the plugin's build
  uint32_t size = 0;              // sizeof(CudaBackendTable) in the plugin's build
  const char* version = nullptr;  // DUET_VERSION of the plugin's build

  // Fills each op's CUDA kernel and workspace slots (register_kernel). Called once, after
  // the checks above, before any other entry.
  void (*register_kernels)();
  // Visible devices. 0: *why (a static string owned by the plugin) says why: no CUDA driver,
  // a driver older than the runtime, no device.
  int (*device_count)(const char** why);

  // device_backend.h and duet/cuda.h, for devices the loader has checked exist.
  Allocator& (*allocator)(int index);
  void (*copy)(const Tensor& src, const Tensor& dst);
  void (*fill)(const Tensor& dst, double value);
  void (*write_int64)(const Tensor& dst, const int64_t* values, int64_t n);
  void (*synchronize)(int index);
  void (*memory_info)(int index, int64_t* free_bytes, int64_t* total_bytes);

  // core/cuda_graph.h: an opaque capture object per CudaGraph.
  void* (*graph_create)(int index);
  void (*graph_destroy)(void* graph) noexcept;
  void (*graph_begin)(void* graph);
  void (*graph_end)(void* graph);
  void (*graph_abort)(void* graph) noexcept;
  void (*graph_launch)(void* graph);
  bool (*graph_ready)(const void* graph);
  size_t (*graph_num_nodes)(const void* graph);
  int64_t (*graph_scratch_bytes)(const void* graph);

  // Test hooks of the cuDNN conv kernels (device_backend.h, detail::cuda_conv_*).
  int64_t (*conv_find_count)();
  int64_t (*conv_fused_count)();
  int64_t (*conv_own_workspace_count)();
  void (*set_conv_fuse_identity_always)(bool on);

  // The profiler's CUDA events (device_backend.h, cuda_event_*): pooled, recorded on the
  // device's stream; elapsed_ms waits for `end` (only when a profile stops).
  void* (*event_record)(int index);
  double (*event_elapsed_ms)(void* start, void* end);
  void (*event_release)(void* event) noexcept;
};

// The plugin's entry point: extern "C" const CudaBackendTable* duet_cuda_backend();
using CudaBackendEntry = const CudaBackendTable* (*)();

}  // namespace duet::detail
