// CUDA kernels for 2-D pooling over (..., H, W) tensors (every leading index is one plane):
// max_pool2d (+ int64 indices), max_pool2d_backward, max_pool2d_gather, avg_pool2d,
// avg_pool2d_backward, adaptive_avg_pool2d, adaptive_avg_pool2d_backward.
//
// Our own kernels, not cuDNN's pooling: the ops need the argmax indices (h * W + w in the
// plane, -1 for a window without input), PyTorch's NaN and tie rules, dilation, and PyTorch's
// ceil_mode divisor, none of which cuDNN's pooling gives. Same meaning as
// kernels/cpu/pool_kernels.h. Differences: an index outside its plane (only possible with
// hand-made indices) is skipped (backward) or reads 0 (gather) instead of raising an error,
// which would need a host synchronisation.
//
// Declarations only (no CUDA headers), so op files include this in every build.
#pragma once

#include "ops/op_def.h"

namespace duet::cuda_kernels {

// inputs: x (P..., H, W); outputs: y (P..., OH, OW), indices int64 (P..., OH, OW)
void max_pool2d(const KernelArgs& k);
// inputs: grad (P..., OH, OW), indices; output: grad_in (P..., H, W), scatter-add (atomics;
// with duet::cuda_deterministic() one ordered pass per plane, bit-identical run to run)
void max_pool2d_backward(const KernelArgs& k);
// inputs: x (P..., H, W), indices (P..., OH, OW); output: x at indices (0 where -1)
void max_pool2d_gather(const KernelArgs& k);
// inputs: x (P..., H, W); output: y (P..., OH, OW)
void avg_pool2d(const KernelArgs& k);
// inputs: grad (P..., OH, OW); output: grad_in (P..., H, W) (a gather: deterministic)
void avg_pool2d_backward(const KernelArgs& k);
// inputs: x (P..., H, W); output: y (P..., OH, OW)
void adaptive_avg_pool2d(const KernelArgs& k);
// inputs: grad (P..., OH, OW); output: grad_in (P..., H, W) (a gather: deterministic)
void adaptive_avg_pool2d_backward(const KernelArgs& k);

}  // namespace duet::cuda_kernels
