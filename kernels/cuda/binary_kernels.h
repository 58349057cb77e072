// CUDA kernels for broadcasting binary ops, comparisons and where (the same ops and dtypes as
// kernels/cpu/binary_kernels.h). Declarations only: no CUDA headers.
#pragma once

#include "elementwise_ops.h"
#include "ops/op_def.h"

namespace duet::cuda_kernels {

// float32, float64, int64 (bool is an error, as on the CPU).
DUET_ARITH_OPS(DUET_DECLARE_KERNEL)  // kernels/elementwise_ops.h
// Any dtype in, bool out.
DUET_COMPARE_OPS(DUET_DECLARE_KERNEL)
void where(const KernelArgs& k);  // inputs: cond (bool), a, b (any dtype)

}  // namespace duet::cuda_kernels
