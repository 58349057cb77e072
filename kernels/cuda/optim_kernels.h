// CUDA kernels for the optimizer updates: sgd_step_, adam_step_, their multi-tensor forms
// (src/ops/multi_tensor_ops.h), linear_grad_adam_step_ (src/ops/fused_update_ops.h) and
// increment_. Same formulas as kernels/cpu/optim_kernels.cpp and kernels/cpu/adam_math.h,
// operation by operation (no fused multiply-adds), reading lr and step on the device. No CUDA
// headers: op files include this in every build.
#pragma once

#include "ops/op_def.h"

namespace duet::cuda_kernels {

// inputs: param, grad, lr (float64 ()), step (int64 ()), [momentum_buf]; as cpu_kernels.
void sgd_step(const KernelArgs& k);
// inputs: param, grad, exp_avg, exp_avg_sq, lr (float64 ()), step (int64 ()); as cpu_kernels.
void adam_step(const KernelArgs& k);
// inputs: x (int64 / float32 / float64); x += attrs.value in place.
void increment(const KernelArgs& k);
// inputs: lr, then (param, grad, step[, momentum_buf]) per parameter (the buffer when
// attrs.buffers); attrs as sgd_step_ plus buffers. One launch updates every parameter.
void sgd_step_multi(const KernelArgs& k);
// inputs: lr, then (param, grad, exp_avg, exp_avg_sq, step) per parameter; attrs as
// adam_step_. One launch updates every parameter.
void adam_step_multi(const KernelArgs& k);
// inputs: grad_out (rows, out), x (rows, in), W (out, in), exp_avg, exp_avg_sq, lr, step:
// dW = grad_out^T x (cuBLAS) into the workspace (out * in elements; a scratch buffer when the
// op's workspace is smaller), then adam_step_'s update of W.
void linear_grad_adam_step(const KernelArgs& k);

}  // namespace duet::cuda_kernels
