// The epilogue of conv2d / conv2d_fused on CUDA: one elementwise pass over the conv output,
// y = activation(y + bias[c] + residual), in place. Launched by conv_kernels.cpp.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "cpu/fused_kernels.h"  // cpu_kernels::Activation
#include "duet/dtype.h"

namespace duet::cuda_kernels {

// y: (N, C, HW) contiguous of `dtype` (float32 or float64); bias: (C) or null; residual: like
// y or null. Adds in the CPU kernels' order ((y + bias) + residual), then the activation.
void launch_conv_epilogue(void* y, const void* bias, const void* residual, int64_t numel,
                          int64_t channels, int64_t hw, DType dtype, cpu_kernels::Activation act,
                          cudaStream_t stream);

}  // namespace duet::cuda_kernels
