// CUDA kernels for unary math and ops with a scalar attribute (the same ops, attrs and
// dtypes as kernels/cpu/unary_kernels.h). Declarations only: no CUDA headers, so op files
// include this in every build and reference the kernels through DUET_CUDA_KERNEL.
#pragma once

#include "elementwise_ops.h"
#include "ops/op_def.h"

namespace duet::cuda_kernels {

DUET_UNARY_OPS(DUET_DECLARE_KERNEL)        // kernels/elementwise_ops.h
void clamp(const KernelArgs& k);           // attrs: lo, hi
void clamp_backward(const KernelArgs& k);  // inputs: grad, x; attrs: lo, hi

}  // namespace duet::cuda_kernels
