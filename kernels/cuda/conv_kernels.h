// CUDA kernels for 2-D convolution (NCHW, OIHW) through cuDNN: forward, backward wrt input,
// backward wrt weight, and conv2d_fused (cuDNN forward + one epilogue pass: bias, residual,
// activation). Grouped and depthwise convs are cuDNN group convolutions.
//
// Algorithms: cudnnFind*AlgorithmEx once per shape key (device, dtype, shapes, stride,
// padding, dilation, groups, TF32 and deterministic flags, workspace limit), cached
// process-wide (kernels/cuda/cudnn_util.h). Workspace: at most duet::cuda_workspace_limit(),
// taken from the caching allocator per call.
//
// Declarations only (no CUDA headers), so op files include this in every build.
#pragma once

#include <cstdint>

#include "ops/op_def.h"

namespace duet::cuda_kernels {

// inputs: x (N, C, H, W), w (O, C/g, KH, KW) [, b (O)] -> y (N, O, OH, OW)
void conv2d(const KernelArgs& k);
// inputs: grad_out (N, O, OH, OW), w; attrs input_shape -> grad_x (N, C, H, W)
void conv2d_backward_input(const KernelArgs& k);
// inputs: grad_out (N, O, OH, OW), x (N, C, H, W); attrs weight_shape -> grad_w (O, C/g, KH, KW)
void conv2d_backward_weight(const KernelArgs& k);
// inputs: x, w [, b (O)] [, residual (N, O, OH, OW)]; attrs: the conv2d attrs, activation,
// has_bias, has_residual -> y = activation(conv2d(x, w, b) + residual)
void conv2d_fused(const KernelArgs& k);

// cudnnFind searches run so far by the convolution kernels (every pass and key), for tests
// of the algorithm cache.
int64_t conv_find_count();

}  // namespace duet::cuda_kernels

namespace duet::detail {
// conv_find_count() in CUDA builds, 0 otherwise; defined in src/ops/conv_ops.cpp so tests can
// call it in every build.
int64_t cuda_conv_find_count();
}  // namespace duet::detail
