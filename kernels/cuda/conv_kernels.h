// CUDA kernels for 2-D convolution (NCHW, OIHW) through cuDNN: forward, backward wrt input,
// backward wrt weight, and conv2d_fused (one cudnnConvolutionBiasActivationForward where cuDNN
// can fuse: a bias and relu or no activation; else the cuDNN forward + our epilogue pass: bias,
// residual, activation). Grouped and depthwise convs are cuDNN group convolutions.
//
// Algorithms: cudnnFind*AlgorithmEx once per shape key (device, dtype, shapes, stride,
// padding, dilation, groups, TF32 and deterministic flags, workspace limit), cached
// process-wide (kernels/cuda/cudnn_util.h). Workspace: at most duet::cuda_workspace_limit();
// the ops' workspace queries below return it (running the Find on a cache miss), so eager
// dispatch and the graph planner hand it to the kernel in KernelArgs::workspace.
//
// Declarations only (no CUDA headers), so op files include this in every build.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

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

// Workspace queries (the ops' OpDef::workspace_bytes for CUDA metas; src/ops/conv_ops.cpp and
// fused_ops.cpp reach them through DUET_CUDA_FN): the bytes the kernel's cuDNN call will use.
// On a cache miss they run cudnnFind for the kernel's own key over temporary buffers (a host
// wait; never inside a stream capture: the planner and eager dispatch query before the kernel
// runs), so the kernel then finds its algorithm cached. conv2d / conv2d_fused: the larger of
// the forward algorithm's workspace and the fused call's.
size_t conv2d_workspace(std::span<const TensorMeta> in, std::span<const TensorMeta> out,
                        const Attrs& attrs);
size_t conv2d_fused_workspace(std::span<const TensorMeta> in, std::span<const TensorMeta> out,
                              const Attrs& attrs);
size_t conv2d_backward_input_workspace(std::span<const TensorMeta> in,
                                       std::span<const TensorMeta> out, const Attrs& attrs);
size_t conv2d_backward_weight_workspace(std::span<const TensorMeta> in,
                                        std::span<const TensorMeta> out, const Attrs& attrs);

// For tests: cudnnFind searches run so far (every pass and key); forward calls that ran as one
// cudnnConvolutionBiasActivationForward; kernel calls whose KernelArgs::workspace was missing
// or too small, so they took a block from the caching allocator.
int64_t conv_find_count();
int64_t conv_fused_count();
int64_t conv_own_workspace_count();
// For tests: fuse identity-activation convs with a bias whenever IMPLICIT_PRECOMP_GEMM is
// usable, even when Find timed it more than 10% slower than the chosen algorithm.
void set_conv_fuse_identity_always(bool on);

}  // namespace duet::cuda_kernels

namespace duet::detail {
// The counters and setting above in CUDA builds (0 / nothing otherwise); defined in
// src/ops/conv_ops.cpp so tests can call them in every build.
int64_t cuda_conv_find_count();
int64_t cuda_conv_fused_count();
int64_t cuda_conv_own_workspace_count();
void set_cuda_conv_fuse_identity_always(bool on);
}  // namespace duet::detail
