// Unary math and ops with a scalar attribute, CPU (kernels/cpu/unary_kernels.cpp) and CUDA
// (kernels/cuda/unary_kernels.cu): the formulas of kernels/elementwise_ops.h, float32 and
// float64; clamp (attrs: lo, hi) and clamp_backward (inputs: grad, x; attrs: lo, hi).
#pragma once

#include "elementwise_ops.h"
#include "kernel_api.h"

#define DUET_UNARY_KERNELS(X) DUET_UNARY_OPS(X) X(clamp) X(clamp_backward)
DUET_DECLARE_DEVICE_KERNELS(DUET_UNARY_KERNELS)
