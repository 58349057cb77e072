// 2-D convolution (NCHW, OIHW), CPU (kernels/cpu/conv_kernels.cpp) and CUDA
// (kernels/cuda/conv_kernels.cpp): forward, backward wrt input, backward wrt weight, and each
// one's workspace query (the op's OpDef::workspace slot for that device). Geometry (output
// sizes, ConvGeom): kernels/geometry.h.
//
// CPU. GEMM path: im2col + GEMM (col2im for the input gradient), in chunks whose column buffer
// stays in cache; chunks run in parallel (one single-threaded GEMM per thread) when there are
// enough of them, else one after another with each GEMM split over the threads. Stride-1
// convs shift rows instead of a full im2col. Pointwise convs (1x1, stride 1, no padding) skip
// im2col; depthwise convs (one input channel per group) use direct loops. Workspace: im2col /
// shifted-input buffers per thread, regrouped weights, weight-gradient accumulators; the
// kernels take it from KernelArgs::workspace when that is large enough, else from
// thread-local buffers.
//
// CUDA, through cuDNN (grouped and depthwise convs are cuDNN group convolutions). Algorithms:
// cudnnFind*AlgorithmEx once per shape key (device, dtype, shapes, stride, padding, dilation,
// groups, TF32 and deterministic flags, workspace limit), cached process-wide
// (kernels/cuda/cudnn_util.h). Workspace: at most duet::cuda_workspace_limit(); the queries
// return the bytes the kernel's cuDNN call will use, running cudnnFind for the kernel's own
// key over temporary buffers on a cache miss (a host wait; never inside a stream capture: the
// planner and eager dispatch query before the kernel runs), so the kernel then finds its
// algorithm cached. conv2d / conv2d_fused: the larger of the forward algorithm's workspace
// and the fused call's (conv2d_fused itself: kernels/fused_kernels.h).
//
// conv2d: inputs x (N, C, H, W), w (O, C/g, KH, KW) [, b (O)] -> y (N, O, OH, OW)
// conv2d_backward_input: inputs grad_out (N, O, OH, OW), w; attrs input_shape
//   -> grad_x (N, C, H, W)
// conv2d_backward_weight: inputs grad_out (N, O, OH, OW), x (N, C, H, W); attrs weight_shape
//   -> grad_w (O, C/g, KH, KW)
// attrs: stride, padding, dilation (2 ints each), groups.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "kernel_api.h"

#define DUET_CONV_KERNELS(X) X(conv2d) X(conv2d_backward_input) X(conv2d_backward_weight)
#define DUET_CONV_WORKSPACES(X) \
  X(conv2d_workspace) X(conv2d_backward_input_workspace) X(conv2d_backward_weight_workspace)
DUET_DECLARE_DEVICE_KERNELS(DUET_CONV_KERNELS)

namespace duet::cpu_kernels {
DUET_CONV_WORKSPACES(DUET_DECLARE_WORKSPACE)
}  // namespace duet::cpu_kernels

namespace duet::cuda_kernels {
DUET_CONV_WORKSPACES(DUET_DECLARE_WORKSPACE)
DUET_DECLARE_WORKSPACE(conv2d_fused_workspace)

// For tests (through the backend table: detail::cuda_conv_* in core/device_backend.h):
// cudnnFind searches run so far (every pass and key); forward calls that ran as one
// cudnnConvolutionBiasActivationForward; kernel calls whose KernelArgs::workspace was missing
// or too small, so they took a block from the caching allocator.
int64_t conv_find_count();
int64_t conv_fused_count();
int64_t conv_own_workspace_count();
// For tests: fuse identity-activation convs with a bias whenever IMPLICIT_PRECOMP_GEMM is
// usable, even when Find timed it more than 10% slower than the chosen algorithm.
void set_conv_fuse_identity_always(bool on);
}  // namespace duet::cuda_kernels
