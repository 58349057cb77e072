// Device-side strided copy (with dtype conversion), fill and small writes, launched on a
// stream.
#pragma once

#include <cuda_runtime_api.h>

#include "cuda/runtime.h"
#include "duet/dtype.h"

namespace duet::cuda_backend {

// dst[i] = convert(src[i]) for every index of dst's shape (src.sizes == dst.sizes; src strides
// may be 0 for broadcast). n = number of elements.
void launch_strided_copy(const void* src, DType src_dtype, const StridedMeta& src_meta, void* dst,
                         DType dst_dtype, const StridedMeta& dst_meta, int64_t n,
                         cudaStream_t stream);
// Every element of dst (any strides) set to value converted to dst_dtype.
void launch_fill(void* dst, DType dtype, const StridedMeta& meta, int64_t n, double value,
                 cudaStream_t stream);

// dst[0..n) = values[0..n), with the values passed as kernel arguments (64 per launch): no
// host buffer has to outlive the call and the host never waits, so a per-run value (a seed)
// can be written before every CUDA Graph replay.
void launch_write_int64(int64_t* dst, const int64_t* values, int64_t n, cudaStream_t stream);

}  // namespace duet::cuda_backend
