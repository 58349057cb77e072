// Broadcasting binary ops, comparisons and where, CPU (kernels/cpu/binary_kernels.cpp) and CUDA
// (kernels/cuda/binary_kernels.cu): the formulas of kernels/elementwise_ops.h.
//   arithmetic: float32, float64, int64 (bool is an error); comparisons: any dtype in, bool out
//   where: inputs cond (bool), a, b (any dtype)
#pragma once

#include "elementwise_ops.h"
#include "kernel_api.h"

#define DUET_BINARY_KERNELS(X) DUET_ARITH_OPS(X) DUET_COMPARE_OPS(X) X(where)
DUET_DECLARE_DEVICE_KERNELS(DUET_BINARY_KERNELS)
