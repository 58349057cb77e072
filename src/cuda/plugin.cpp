// libduet_cuda.so's one entry point: the function table libduet's loader asks for
// (core/cuda_backend_abi.h, src/core/cuda_loader.cpp). Everything else in this library is
// reached through it or through the op table (src/cuda/kernel_registry.cpp).
#include "conv_kernels.h"
#include "core/cuda_backend_abi.h"
#include "cuda/runtime.h"

#ifndef DUET_VERSION
#define DUET_VERSION "unknown"
#endif

namespace duet::cuda_backend {
namespace {

GraphCapture* as_graph(void* g) {
  return static_cast<GraphCapture*>(g);
}
const GraphCapture* as_graph(const void* g) {
  return static_cast<const GraphCapture*>(g);
}

const detail::CudaBackendTable kTable = {
    .abi = detail::kCudaBackendAbi,
    .size = sizeof(detail::CudaBackendTable),
    .version = DUET_VERSION,
    .register_kernels = &register_kernels,
    .device_count = &device_count,
    .allocator = &allocator,
    .copy = &copy_tensor,
    .fill = &fill_tensor,
    .write_int64 = &write_int64,
    .synchronize = &synchronize,
    .memory_info = &memory_info,
    .graph_create = [](int index) -> void* {
      return new GraphCapture(Device{DeviceType::cuda, index});
    },
    .graph_destroy = [](void* g) noexcept { delete as_graph(g); },
    .graph_begin = [](void* g) { as_graph(g)->begin(); },
    .graph_end = [](void* g) { as_graph(g)->end(); },
    .graph_abort = [](void* g) noexcept { as_graph(g)->abort(); },
    .graph_launch = [](void* g) { as_graph(g)->launch(); },
    .graph_ready = [](const void* g) { return as_graph(g)->ready(); },
    .graph_num_nodes = [](const void* g) { return as_graph(g)->num_nodes(); },
    .graph_scratch_bytes = [](const void* g) { return as_graph(g)->scratch_bytes(); },
    .conv_find_count = &cuda_kernels::conv_find_count,
    .conv_fused_count = &cuda_kernels::conv_fused_count,
    .conv_own_workspace_count = &cuda_kernels::conv_own_workspace_count,
    .set_conv_fuse_identity_always = &cuda_kernels::set_conv_fuse_identity_always,
    .event_record = &event_record,
    .event_elapsed_ms = &event_elapsed_ms,
    .event_release = &event_release,
};

}  // namespace
}  // namespace duet::cuda_backend

extern "C" __attribute__((visibility("default"))) const duet::detail::CudaBackendTable*
duet_cuda_backend() {
  return &duet::cuda_backend::kTable;
}
