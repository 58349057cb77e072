// CUDA kernels for softmax, log_softmax, their fused gradients and cross entropy: same attrs,
// dtypes and formulas as kernels/cpu/loss_kernels.h. No CUDA headers: op files include this in
// every build.
#pragma once

#include "ops/op_def.h"

namespace duet::cuda_kernels {

void softmax(const KernelArgs& k);               // inputs: x; attrs: axis
void log_softmax(const KernelArgs& k);           // inputs: x; attrs: axis
void softmax_backward(const KernelArgs& k);      // inputs: grad, y; attrs: axis
void log_softmax_backward(const KernelArgs& k);  // inputs: grad, y; attrs: axis
// inputs: logits (N, C), labels (N) int64; outputs: loss (), log_probs (N, C);
// attrs: label_smoothing. A label outside [0, C) cannot throw from a kernel (and checking on
// the host would need a device->host sync): its row's loss is NaN, so the loss is NaN, and
// no memory outside the row is read.
void cross_entropy(const KernelArgs& k);
// inputs: grad (), log_probs (N, C), labels (N); output (N, C); attrs: label_smoothing.
// A label outside [0, C) makes its row of the output NaN (see cross_entropy).
void cross_entropy_backward(const KernelArgs& k);

}  // namespace duet::cuda_kernels
