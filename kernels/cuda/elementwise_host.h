// Host entry points of the elementwise CUDA kernels for other CUDA kernel files (gemm.cpp;
// conv2d_fused may reuse the epilogue): a strided copy into a contiguous buffer and the
// bias + residual + activation epilogue. Plain C++ over the CUDA runtime header; only files in
// kernels/cuda/ include it.
#pragma once

#include <cstdint>

#include "activations.h"  // kernels::Activation
#include "cuda/runtime.h"
#include "duet/attrs.h"

namespace duet::cuda_kernels {

// dst (contiguous, row-major over src.sizes) = the elements of src (any strides, 0 for
// broadcast axes) starting at `src`; element type of `elem_size` bytes (1, 2, 4 or 8). On
// `stream`; no host synchronisation. `op` names the caller in errors.
void strided_copy(const void* src, const cuda_backend::StridedMeta& src_meta, void* dst,
                  size_t elem_size, cudaStream_t stream, const char* op);

// In place over y (rows, cols), contiguous, float32, float64, float16 or bfloat16 (bias and
// residual in y's dtype; 16-bit: each step in float32, rounded as the unfused ops round):
//   y[r, c] = act(y[r, c] + bias[c] + residual[r, c])
// with bias (cols) and residual (rows, cols) optional (null), in that order. The activation
// formulas are the forward activation kernels' own (kernels/activations.h), its attrs read
// from `attrs`, so a fused op gives the unfused bits.
void bias_activation_epilogue(void* y, const void* bias, const void* residual, int64_t rows,
                              int64_t cols, DType dtype, kernels::Activation act,
                              const Attrs& attrs, cudaStream_t stream, const char* op);

}  // namespace duet::cuda_kernels
