// CPU kernels for 2-D pooling over (..., H, W) tensors (every leading index is one plane).
//
// Window geometry follows PyTorch's CPU kernels exactly; output sizes come from the op's
// infer (src/ops/pool_ops.cpp) through the preallocated output shapes.
// Attrs: kernel, stride, padding, dilation (max only), ceil_mode, count_include_pad (avg only).
#pragma once

#include "ops/op_def.h"

namespace duet::cpu_kernels {

// inputs: x (P..., H, W); outputs: y (P..., OH, OW), indices int64 (P..., OH, OW) holding
// h * W + w of the maximum in its plane (-1 when a window holds no input element).
void max_pool2d(const KernelArgs& k);
// inputs: grad (P..., OH, OW), indices int64; output: grad_in (P..., H, W), scatter-add.
void max_pool2d_backward(const KernelArgs& k);
// inputs: x (P..., H, W), indices int64 (P..., OH, OW); output: x gathered at indices
// (0 where the index is -1).
void max_pool2d_gather(const KernelArgs& k);

// inputs: x (P..., H, W); output: y (P..., OH, OW).
void avg_pool2d(const KernelArgs& k);
// inputs: grad (P..., OH, OW); output: grad_in (P..., H, W).
void avg_pool2d_backward(const KernelArgs& k);

// Adaptive windows: start = floor(i * H / OH), end = ceil((i + 1) * H / OH).
// inputs: x (P..., H, W); output: y (P..., OH, OW).
void adaptive_avg_pool2d(const KernelArgs& k);
// inputs: grad (P..., OH, OW); output: grad_in (P..., H, W).
void adaptive_avg_pool2d_backward(const KernelArgs& k);

}  // namespace duet::cpu_kernels
