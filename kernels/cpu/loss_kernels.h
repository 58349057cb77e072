// CPU kernels for softmax, log_softmax, their fused gradients and cross entropy.
#pragma once

#include "ops/op_def.h"

namespace duet::cpu_kernels {

void softmax(const KernelArgs& k);               // inputs: x; attrs: axis
void log_softmax(const KernelArgs& k);           // inputs: x; attrs: axis
void softmax_backward(const KernelArgs& k);      // inputs: grad, y; attrs: axis
void log_softmax_backward(const KernelArgs& k);  // inputs: grad, y; attrs: axis
// inputs: logits (N, C), labels (N) int64; outputs: loss (), log_probs (N, C);
// attrs: label_smoothing. Throws duet::Error for a label outside [0, C).
void cross_entropy(const KernelArgs& k);
// inputs: grad (), log_probs (N, C), labels (N); output (N, C); attrs: label_smoothing.
void cross_entropy_backward(const KernelArgs& k);

}  // namespace duet::cpu_kernels
