// What the core needs from a non-CPU backend. src/cuda/ implements it in CUDA builds;
// src/cuda_off/ implements it as "not available" errors otherwise, so core files carry no
// #ifdef.
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

}  // namespace duet::detail
