// CPU kernels for the fused optimizer updates (one pass over the parameter, OpenMP).
#pragma once

#include "ops/op_def.h"

namespace duet::cpu_kernels {

// inputs: param, grad[, momentum_buf]; writes param and momentum_buf in place.
// attrs: lr, momentum, dampening, weight_decay, nesterov, first_step.
void sgd_step(const KernelArgs& k);
// inputs: param, grad, exp_avg, exp_avg_sq; writes param, exp_avg, exp_avg_sq in place.
// attrs: lr, beta1, beta2, eps, weight_decay, decoupled, step.
void adam_step(const KernelArgs& k);

}  // namespace duet::cpu_kernels
