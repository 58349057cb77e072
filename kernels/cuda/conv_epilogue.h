// The epilogue of conv2d / conv2d_fused on CUDA: one elementwise pass over the conv output,
// y = activation(y + bias[c] + residual), in place. Launched by conv_kernels.cpp.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "activations.h"  // kernels::Activation
#include "duet/attrs.h"
#include "duet/dtype.h"

namespace duet::cuda_kernels {

// y: (N, C, HW) contiguous of `dtype` (float32, float64, float16 or bfloat16; 16-bit: the
// sums and activation in float32, rounded after each step as the unfused ops round); bias: (C) or
// null; residual: like y or null, both of y's dtype. Adds in the CPU kernels' order ((y + bias) +
// residual), then the activation (kernels/activations.h, its attrs read from `attrs`).
void launch_conv_epilogue(void* y, const void* bias, const void* residual, int64_t numel,
                          int64_t channels, int64_t hw, DType dtype, kernels::Activation act,
                          const Attrs& attrs, cudaStream_t stream);

}  // namespace duet::cuda_kernels
