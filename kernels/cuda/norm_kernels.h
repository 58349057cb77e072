// CUDA kernels for batch normalisation over the channel axis of (N, C, ...) tensors:
// batch_norm_train, batch_norm_backward, channel_affine, running_stat_update.
//
// The same meaning as kernels/cpu/norm_kernels.h (biased variance as a 4th output, statistics
// accumulated in double for float32 too), through our own kernels rather than cuDNN's batch
// norm, whose training call returns no biased variance and accumulates float32 in float:
// x is seen as (N, C, S); per-channel partial sums over slices of N * S run in parallel,
// a per-channel pass combines them in a fixed order (deterministic), then one elementwise pass
// writes y (or grad_x).
//
// Declarations only (no CUDA headers), so op files include this in every build.
#pragma once

#include "ops/op_def.h"

namespace duet::cuda_kernels {

// inputs: x (N, C, ...), weight (C), bias (C); attrs: eps
// outputs: y, mean (C), invstd (C) = 1 / sqrt(var + eps), var (C) (biased)
void batch_norm_train(const KernelArgs& k);
// inputs: grad_y (N, C, ...), x, weight (C), mean (C), invstd (C)
// outputs: grad_x, grad_weight (C), grad_bias (C)
void batch_norm_backward(const KernelArgs& k);
// inputs: x (N, C, ...), scale (C), shift (C); output: y = x * scale[c] + shift[c]
void channel_affine(const KernelArgs& k);
// inputs: running (C) (written in place), stat (C); attrs: momentum, correction; no outputs.
// running = (1 - momentum) * running + momentum * stat * correction
void running_stat_update(const KernelArgs& k);

}  // namespace duet::cuda_kernels
