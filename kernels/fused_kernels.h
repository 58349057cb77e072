// Kernels of the fused ops (src/ops/fused_ops.cpp), CPU (kernels/cpu/fused_kernels.cpp) and
// CUDA (conv2d_fused in kernels/cuda/conv_kernels.cpp, linear_fused in gemm.cpp, add_relu in
// activation_kernels.cu).
//
// conv2d_fused / linear_fused run the conv2d / linear kernel into the output (the bias add
// inside it, or in the epilogue on CUDA), then one epilogue pass over the output: + residual,
// then the activation (kernels/activations.h: the fusable ones), with the formulas and float
// operations of the unfused kernels, so fused results equal unfused ones bit for bit.
#pragma once

#include "kernel_api.h"

// inputs: x (N, C, H, W), w (O, C/g, KH, KW) [, b (O)] [, residual (N, O, OH, OW)];
//   attrs: the conv2d attrs, activation (string) and its attrs, has_bias, has_residual
//   -> y = activation(conv2d(x, w, b) + residual)
// linear_fused: inputs x (..., in), w (out, in) [, b (out)]; attrs: activation (and its
//   attrs), has_bias -> activation(linear(x, w, b))
// add_relu: inputs a, b of one shape -> relu(a + b); one pass, safe in place over a
#define DUET_FUSED_KERNELS(X) X(conv2d_fused) X(linear_fused) X(add_relu)
DUET_DECLARE_DEVICE_KERNELS(DUET_FUSED_KERNELS)
