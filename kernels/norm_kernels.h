// Batch normalisation over the channel axis of (N, C, ...) tensors, CPU
// (kernels/cpu/norm_kernels.cpp) and CUDA (kernels/cuda/norm_kernels.cu).
//
// Every kernel sees x as (N, C, S) with S the product of the trailing dimensions (1 for
// (N, C)). Statistics are two-pass and accumulate in double, for float32 as well as float64.
// CPU: parallel over channels. CUDA: our own kernels rather than cuDNN's batch norm (whose
// training call returns no biased variance and accumulates float32 in float): per-channel
// partial sums over slices of N * S in parallel, combined per channel in a fixed order
// (deterministic), then one elementwise pass writes y (or grad_x).
//
// batch_norm_train: inputs x (N, C, ...), weight (C), bias (C); attrs: eps
//   outputs y (N, C, ...), mean (C), invstd (C) = 1 / sqrt(var + eps), var (C) (biased)
// batch_norm_backward: inputs grad_y (N, C, ...), x, weight (C), mean (C), invstd (C)
//   outputs grad_x (N, C, ...), grad_weight (C), grad_bias (C)
// channel_affine: inputs x (N, C, ...), scale (C), shift (C); output y = x * scale[c] +
//   shift[c], one pass
// running_stat_update: inputs running (C) (written in place), stat (C); attrs: momentum,
//   correction; no outputs. running = (1 - momentum) * running + momentum * stat * correction
#pragma once

#include "kernel_api.h"

#define DUET_NORM_KERNELS(X) \
  X(batch_norm_train) X(batch_norm_backward) X(channel_affine) X(running_stat_update)
DUET_DECLARE_DEVICE_KERNELS(DUET_NORM_KERNELS)
