// What the core needs from a non-CPU backend. src/core/cuda_loader.cpp implements it by
// forwarding to the CUDA backend library (libduet_cuda.so, src/cuda/) when one is loaded, and
// as "not available" errors otherwise, so core files carry no #ifdef.
#pragma once

#include "core/allocator.h"
#include "duet/tensor.h"

namespace duet::detail {

// The caching allocator of CUDA device `index` (throws duet::Error when unavailable).
Allocator& cuda_allocator(int index);
// dst[i] = convert(src[i]) over dst's shape where src or dst (or both) is a CUDA tensor:
// device-to-device (same device), host-to-device through pinned staging buffers, or
// device-to-host. src may have any strides (0 for broadcast); dst must not overlap itself.
void cuda_copy(const Tensor& src, const Tensor& dst);
// Every element of a CUDA tensor (any strides) set to `value`.
void cuda_fill(const Tensor& dst, double value);
// dst (a contiguous int64 CUDA tensor of n elements) = values, queued on the device's stream
// without a host buffer or a host wait (the values travel as kernel arguments).
void cuda_write_int64(const Tensor& dst, const int64_t* values, int64_t n);
// Counts one host wait on a CUDA device (cuda_sync_count()).
void note_cuda_sync();
// cudaMemGetInfo (free, total) for the device.
void cuda_memory_info(int index, int64_t& free_bytes, int64_t& total_bytes);

// The profiler's CUDA events (src/profiler/recorder.cpp): an event from a per-device pool,
// recorded now on device `index`'s stream (no host wait); the milliseconds between two
// recorded events (waits for `end`: only when a profile stops); an event back to its pool.
void* cuda_event_record(int index);
double cuda_event_elapsed_ms(void* start, void* end);
void cuda_event_release(void* event) noexcept;

// For tests, from the cuDNN conv kernels (0 / nothing without the backend): cudnnFind
// searches run so far; forward calls that ran as one cudnnConvolutionBiasActivationForward;
// kernel calls that took their workspace from the caching allocator (none was planned).
int64_t cuda_conv_find_count();
int64_t cuda_conv_fused_count();
int64_t cuda_conv_own_workspace_count();
// For tests: fuse identity-activation convs with a bias whenever cuDNN can.
void set_cuda_conv_fuse_identity_always(bool on);

}  // namespace duet::detail
