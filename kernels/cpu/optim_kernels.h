// CPU kernels for the fused optimizer updates (one pass over the parameter, OpenMP) and the
// in-place increment.
#pragma once

#include "ops/op_def.h"

namespace duet::cpu_kernels {

// inputs: param, grad, lr (float64 ()), step (int64 ()), [momentum_buf]; writes param, step
// and momentum_buf in place. first_step = (step == 0); then step += 1.
// attrs: momentum, dampening, weight_decay, nesterov.
void sgd_step(const KernelArgs& k);
// inputs: param, grad, exp_avg, exp_avg_sq, lr (float64 ()), step (int64 ()); writes param,
// exp_avg, exp_avg_sq and step in place: step += 1 first, bias corrections from the new step.
// attrs: beta1, beta2, eps, weight_decay, decoupled.
void adam_step(const KernelArgs& k);
// inputs: x (int64 / float32 / float64); x += attrs.value in place.
void increment(const KernelArgs& k);

}  // namespace duet::cpu_kernels
