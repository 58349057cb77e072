// 2-D pooling over (..., H, W) tensors (every leading index is one plane), CPU
// (kernels/cpu/pool_kernels.cpp) and CUDA (kernels/cuda/pool_kernels.cu).
//
// Window geometry follows PyTorch's CPU kernels exactly (kernels/geometry.h, pool_geometry);
// output sizes come from the op's infer (src/ops/pool_ops.cpp) through the preallocated
// output shapes. Attrs: kernel, stride, padding, dilation (max only), ceil_mode,
// count_include_pad (avg only). On CUDA these are our own kernels, not cuDNN's pooling: the
// ops need the argmax indices, PyTorch's NaN and tie rules, dilation and PyTorch's ceil_mode
// divisor, none of which cuDNN's pooling gives. CUDA differences: an index outside its plane
// (only possible with hand-made indices) is skipped (backward) or reads 0 (gather) instead of
// raising an error, which would need a host synchronisation.
//
// max_pool2d: inputs x (P..., H, W); outputs y (P..., OH, OW), indices int64 (P..., OH, OW)
//   holding h * W + w of the maximum in its plane (-1 when a window holds no input element)
// max_pool2d_backward: inputs grad (P..., OH, OW), indices; output grad_in (P..., H, W),
//   scatter-add (CUDA: atomics; with duet::cuda_deterministic() one ordered pass per plane)
// max_pool2d_gather: inputs x (P..., H, W), indices (P..., OH, OW); output x gathered at
//   indices (0 where the index is -1)
// avg_pool2d: x (P..., H, W) -> y (P..., OH, OW); avg_pool2d_backward: grad (P..., OH, OW)
//   -> grad_in (P..., H, W) (a gather: deterministic)
// adaptive_avg_pool2d, adaptive_avg_pool2d_backward: as avg, with windows start =
//   floor(i * H / OH), end = ceil((i + 1) * H / OH)
#pragma once

#include "kernel_api.h"

#define DUET_POOL_KERNELS(X)                                                          \
  X(max_pool2d) X(max_pool2d_backward) X(max_pool2d_gather) X(avg_pool2d)              \
  X(avg_pool2d_backward) X(adaptive_avg_pool2d) X(adaptive_avg_pool2d_backward)
DUET_DECLARE_DEVICE_KERNELS(DUET_POOL_KERNELS)
