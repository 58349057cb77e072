// Device-side strided copy (with dtype conversion) and fill, launched on a stream.
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

}  // namespace duet::cuda_backend
