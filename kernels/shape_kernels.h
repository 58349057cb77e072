// Shape ops that move data, CPU (kernels/cpu/shape_kernels.cpp) and CUDA
// (kernels/cuda/shape_kernels.cu; sum_to in reduce_kernels.cu, beside the sum it reuses).
//
// sum_to: inputs x; output x summed to attrs.shape
// concat: inputs xs...; attrs: axis; any dtype
// pad: inputs x; attrs: pads, value; any dtype
#pragma once

#include "kernel_api.h"

#define DUET_SHAPE_KERNELS(X) X(sum_to) X(concat) X(pad)
DUET_DECLARE_DEVICE_KERNELS(DUET_SHAPE_KERNELS)

// CPU only: cast (attrs: dtype): output[i] = input[i] converted, any pair of dtypes, any input
// strides; contiguous low-precision pairs through the bulk conversions (kernels/cpu/convert.h).
namespace duet::cpu_kernels {
void cast(const KernelArgs& k);
}  // namespace duet::cpu_kernels

// CUDA only (the CPU kernels of these ops are in src/ops/shape_ops.cpp):
namespace duet::cuda_kernels {
// inputs: grad (the slice's shape); output: attrs.input_shape, zero outside the slice;
// attrs: axis, start, end, step.
void slice_backward(const KernelArgs& k);
// clone and cast: output[i] = convert(input[i]); the input may have any strides (the ops set
// strided_inputs). Any pair of float32, float64, int64 and bool.
void copy(const KernelArgs& k);
}  // namespace duet::cuda_kernels
