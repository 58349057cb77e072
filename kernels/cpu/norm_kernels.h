// CPU kernels for batch normalisation over the channel axis of (N, C, ...) tensors.
//
// Every kernel sees x as (N, C, S) with S the product of the trailing dimensions (1 for (N, C))
// and runs in parallel over channels (OpenMP). Statistics are two-pass and accumulate in
// double, for float32 as well as float64.
#pragma once

#include "ops/op_def.h"

namespace duet::cpu_kernels {

// inputs: x (N, C, ...), weight (C), bias (C); attrs: eps
// outputs: y (N, C, ...), mean (C), invstd (C) = 1 / sqrt(var + eps), var (C) (biased)
void batch_norm_train(const KernelArgs& k);
// inputs: grad_y (N, C, ...), x, weight (C), mean (C), invstd (C)
// outputs: grad_x (N, C, ...), grad_weight (C), grad_bias (C)
void batch_norm_backward(const KernelArgs& k);
// inputs: x (N, C, ...), scale (C), shift (C); output: y = x * scale[c] + shift[c], one pass.
void channel_affine(const KernelArgs& k);
// inputs: running (C) (written in place), stat (C); attrs: momentum, correction; no outputs.
// running = (1 - momentum) * running + momentum * stat * correction
void running_stat_update(const KernelArgs& k);

}  // namespace duet::cpu_kernels
