// Native bfloat16 CPU kernels of the ops that carry the compute (docs/mixed_precision.md,
// "Native bfloat16 ops"): the convolutions, linear and matmul on cpu_kernels::gemm_bf16
// (kernels/cpu/gemm_lowp.h), and the hot elementwise / pooling ops of a bf16 network.
//
//   // kernels/cpu/conv_kernels.cpp, conv2d's entry point
//   if (y.dtype() == DType::bfloat16) return conv2d_bf16(k, kernels::Activation::none, nullptr);
//
// The GEMM kernels multiply the bfloat16 values exactly and accumulate in float32 (im2col in
// bfloat16; a 1x1 stride-1 unpadded conv reads its input in place), then add the bias and the
// residual and apply the activation in float32, and round each output element to bfloat16
// once (round to nearest even). Weight gradients accumulate in float32 over the whole batch
// and are rounded once. Depthwise convs (one input channel per group) compute in float32 on
// converted copies (the float32 kernel is faster there than a GEMM of one row).
#pragma once

#include <cstdint>

#include "activations.h"
#include "duet/half.h"
#include "kernel_api.h"

namespace duet::cpu_kernels {

// conv2d / conv2d_fused with x, w [, b] [, residual] bfloat16 (k.inputs: x, w, then the bias
// when there are 3 or more conv inputs: `has_bias`): y = act(conv(x, w) + b + residual).
void conv2d_bf16(const KernelArgs& k, bool has_bias, kernels::Activation act,
                 const Tensor* residual);
// grad_out (N, O, OH, OW), w -> grad_x; grad_out, x -> grad_w; bfloat16 in and out.
void conv2d_backward_input_bf16(const KernelArgs& k);
void conv2d_backward_weight_bf16(const KernelArgs& k);
// linear / linear_fused: x (..., in), w (out, in) [, b (out)] bfloat16 -> act(x @ w^T + b).
void linear_bf16(const KernelArgs& k, kernels::Activation act);

}  // namespace duet::cpu_kernels
