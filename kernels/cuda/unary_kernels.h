// CUDA kernels for unary math and ops with a scalar attribute (the same ops, attrs and
// dtypes as kernels/cpu/unary_kernels.h). Declarations only: no CUDA headers, so op files
// include this in every build and reference the kernels through DUET_CUDA_KERNEL.
#pragma once

#include "ops/op_def.h"

namespace duet::cuda_kernels {

void neg(const KernelArgs& k);
void exp(const KernelArgs& k);
void log(const KernelArgs& k);
void sqrt(const KernelArgs& k);
void rsqrt(const KernelArgs& k);
void abs(const KernelArgs& k);
void sign(const KernelArgs& k);
void add_scalar(const KernelArgs& k);      // attrs: value
void mul_scalar(const KernelArgs& k);      // attrs: value
void rsub_scalar(const KernelArgs& k);     // attrs: value  (value - x)
void rdiv_scalar(const KernelArgs& k);     // attrs: value  (value / x)
void pow_scalar(const KernelArgs& k);      // attrs: exponent
void clamp(const KernelArgs& k);           // attrs: lo, hi
void clamp_backward(const KernelArgs& k);  // inputs: grad, x; attrs: lo, hi

}  // namespace duet::cuda_kernels
