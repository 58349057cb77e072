// Matrix products, CPU (kernels/cpu/linalg_kernels.cpp, on gemm.h) and CUDA (cuBLAS,
// kernels/cuda/gemm.cpp).
//
// matmul: inputs a (..., M, K) or (K), b (..., K, N) or (K); output as inferred by matmul.
//   Accepts strided inputs (the op sets strided_inputs): a matrix whose rows or columns are
//   unit-stride (e.g. a transpose view) goes to the GEMM without a copy; broadcast batch
//   dimensions may have stride 0. (CUDA: other operands, and batches whose matrices are not
//   evenly spaced, are first copied into a contiguous workspace.)
// linear: inputs x (..., in), w (out, in) [, b (out)]; output (..., out) = x @ w^T + b.
// (linear_fused: kernels/fused_kernels.h.)
#pragma once

#include "kernel_api.h"

#define DUET_LINALG_KERNELS(X) X(matmul) X(linear)
DUET_DECLARE_DEVICE_KERNELS(DUET_LINALG_KERNELS)
