// Softmax, log_softmax, their fused gradients and cross entropy, CPU
// (kernels/cpu/loss_kernels.cpp) and CUDA (kernels/cuda/loss_kernels.cu): same attrs, dtypes
// and formulas.
//
// softmax, log_softmax: inputs x; attrs: axis
// softmax_backward, log_softmax_backward: inputs grad, y; attrs: axis
// cross_entropy: inputs logits (N, C), labels (N) int64; outputs loss (), log_probs (N, C);
//   attrs: label_smoothing. A label outside [0, C): the CPU throws duet::Error; CUDA cannot
//   throw from a kernel (and checking on the host would need a device->host sync), so that
//   row's loss is NaN, hence the loss, and no memory outside the row is read.
// cross_entropy_backward: inputs grad (), log_probs (N, C), labels (N); output (N, C); attrs:
//   label_smoothing (CUDA: a label outside [0, C) makes its row NaN).
#pragma once

#include "kernel_api.h"

#define DUET_LOSS_KERNELS(X)                                                           \
  X(softmax) X(log_softmax) X(softmax_backward) X(log_softmax_backward) X(cross_entropy) \
  X(cross_entropy_backward)
DUET_DECLARE_DEVICE_KERNELS(DUET_LOSS_KERNELS)
