// CUDA kernels for the shape ops that move data: concat, pad, slice_backward, clone/cast
// (strided, converting copies) and sum_to (defined in reduce_kernels.cu, beside the sum it
// reuses). Same semantics as kernels/cpu/shape_kernels.h and the copy kernels in
// src/ops/shape_ops.cpp. No CUDA headers: op files include this in every build.
#pragma once

#include "ops/op_def.h"

namespace duet::cuda_kernels {

void sum_to(const KernelArgs& k);  // inputs: x; output: x summed to attrs.shape
void concat(const KernelArgs& k);  // inputs: xs...; attrs: axis; any dtype
void pad(const KernelArgs& k);     // inputs: x; attrs: pads, value; any dtype
// inputs: grad (the slice's shape); output: attrs.input_shape, zero outside the slice;
// attrs: axis, start, end, step.
void slice_backward(const KernelArgs& k);
// clone and cast: output[i] = convert(input[i]); the input may have any strides (the ops set
// strided_inputs). Any pair of float32, float64, int64 and bool.
void copy(const KernelArgs& k);

}  // namespace duet::cuda_kernels
