// CPU kernels for matrix products: matmul (batched, broadcasting, strided operands) and linear.
#pragma once

#include "ops/op_def.h"

namespace duet::cpu_kernels {

// inputs: a (..., M, K) or (K), b (..., K, N) or (K); output as inferred by matmul.
// Accepts strided inputs: a matrix whose rows or columns are unit-stride (e.g. a transpose
// view) goes to the GEMM without a copy; broadcast batch dimensions may have stride 0.
void matmul(const KernelArgs& k);
// inputs: x (..., in), w (out, in) [, b (out)]; output (..., out) = x @ w^T + b.
void linear(const KernelArgs& k);

}  // namespace duet::cpu_kernels
