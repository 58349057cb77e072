// CUDA kernels for matrix products on cuBLAS (kernels/cuda/gemm.cpp): matmul (batched,
// broadcasting, strided operands), linear and linear_fused; the same inputs and outputs as
// kernels/cpu/linalg_kernels.h and linear_fused in kernels/cpu/fused_kernels.h.
// Declarations only: no CUDA headers.
#pragma once

#include "ops/op_def.h"

namespace duet::cuda_kernels {

// inputs: a (..., M, K) or (K), b (..., K, N) or (K); output as inferred by matmul.
// Accepts strided inputs (matmul sets strided_inputs): a matrix whose rows or columns are
// unit-stride goes to cuBLAS as is (transposed where needed); others, and batches whose
// matrices are not evenly spaced, are first copied into a contiguous workspace.
void matmul(const KernelArgs& k);
// inputs: x (..., in), w (out, in) [, b (out)]; output (..., out) = x @ w^T + b.
void linear(const KernelArgs& k);
// linear, then the activation; attrs: activation, has_bias.
void linear_fused(const KernelArgs& k);

}  // namespace duet::cuda_kernels
