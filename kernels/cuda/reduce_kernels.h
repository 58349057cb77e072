// CUDA kernels for reductions (sum, mean, max, argmax) and the gradient of max: same attrs,
// dtypes and results as kernels/cpu/reduce_kernels.h. (sum_to, declared in shape_kernels.h,
// is defined in reduce_kernels.cu too.) No CUDA headers: op files include this in every build.
#pragma once

#include "ops/op_def.h"

namespace duet::cuda_kernels {

void sum(const KernelArgs& k);     // attrs: axes, keepdim; float32/float64/int64, bool -> int64
void mean(const KernelArgs& k);    // attrs: axes, keepdim; float32/float64
void max(const KernelArgs& k);     // attrs: axes, keepdim; float32/float64/int64
void argmax(const KernelArgs& k);  // attrs: axis, keepdim; output int64 (first maximum)
// inputs: grad (shaped like the max output), x; attrs: axes, keepdim; output like x.
void max_backward(const KernelArgs& k);

}  // namespace duet::cuda_kernels
