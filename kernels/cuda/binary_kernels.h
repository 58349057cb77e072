// CUDA kernels for broadcasting binary ops, comparisons and where (the same ops and dtypes as
// kernels/cpu/binary_kernels.h). Declarations only: no CUDA headers.
#pragma once

#include "ops/op_def.h"

namespace duet::cuda_kernels {

// float32, float64, int64 (bool is an error, as on the CPU).
void add(const KernelArgs& k);
void sub(const KernelArgs& k);
void mul(const KernelArgs& k);
void div(const KernelArgs& k);
void maximum(const KernelArgs& k);
void minimum(const KernelArgs& k);
// Any dtype in, bool out.
void eq(const KernelArgs& k);
void ne(const KernelArgs& k);
void lt(const KernelArgs& k);
void le(const KernelArgs& k);
void gt(const KernelArgs& k);
void ge(const KernelArgs& k);
void where(const KernelArgs& k);  // inputs: cond (bool), a, b (any dtype)

}  // namespace duet::cuda_kernels
