// Optimizer updates, CPU (kernels/cpu/optim_kernels.cpp: one pass over the parameter) and CUDA
// (kernels/cuda/optim_kernels.cu: the same formulas as the CPU and kernels/cpu/adam_math.h,
// operation by operation, no fused multiply-adds, reading lr and step on the device).
//
// sgd_step: inputs param, grad, lr (float64 ()), step (int64 ()), [momentum_buf]; writes param,
//   step and momentum_buf in place. first_step = (step == 0); then step += 1.
//   attrs: momentum, dampening, weight_decay, nesterov.
// adam_step: inputs param, grad, exp_avg, exp_avg_sq, lr (float64 ()), step (int64 ()); writes
//   param, exp_avg, exp_avg_sq and step in place: step += 1 first, bias corrections from the
//   new step. attrs: beta1, beta2, eps, weight_decay, decoupled.
// Gate (loss scaling, duet/amp.h): with attrs gated = true, sgd_step, adam_step and
//   linear_grad_adam_step take found_inf (float32 ()) as one more, last, input and return
//   without writing anything (not even step) when it is nonzero; the kernel reads it on the
//   device.
// increment: inputs x (int64 / float32 / float64); x += attrs.value in place.
// linear_grad_adam_step (src/ops/fused_update_ops.h): inputs grad_out (rows, out), x (rows,
// in), W (out, in), exp_avg, exp_avg_sq, lr, step: dW = grad_out^T x, then adam_step's update
// of W (CPU: a block of gradient rows per thread; CUDA: cuBLAS into the workspace, out * in
// elements, or a scratch buffer when the op's workspace is smaller).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernel_api.h"

#define DUET_OPTIM_KERNELS(X) X(sgd_step) X(adam_step) X(increment) X(linear_grad_adam_step)
DUET_DECLARE_DEVICE_KERNELS(DUET_OPTIM_KERNELS)

namespace duet::cpu_kernels {
// The inputs before the gate (all of them when ungated), or 0 when found_inf != 0: skip.
size_t ungated_inputs(const KernelArgs& k);
// linear_grad_adam_step's scratch: one block of gradient rows per thread.
size_t linear_grad_adam_workspace_bytes(int64_t rows, int64_t out, int64_t in, size_t elem_size);
}  // namespace duet::cpu_kernels

// CUDA only (the CPU runs the multi-tensor ops group by group with the kernels above):
namespace duet::cuda_kernels {
// inputs: lr, then (param, grad, step[, momentum_buf]) per parameter (the buffer when
// attrs.buffers); attrs as sgd_step_ plus buffers. One launch updates every parameter.
void sgd_step_multi(const KernelArgs& k);
// inputs: lr, then (param, grad, exp_avg, exp_avg_sq, step) per parameter; attrs as
// adam_step_. One launch updates every parameter.
void adam_step_multi(const KernelArgs& k);
}  // namespace duet::cuda_kernels
