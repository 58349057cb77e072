// Multi-tensor optimizer updates: one op call updates several parameters (on CUDA, in one
// kernel launch per call instead of two per parameter). Each equals calling the
// per-parameter op (sgd_step_ / adam_step_, duet/optim/updates.h) on every parameter in turn,
// bit for bit on the same device: the CPU kernel loops over cpu_kernels::sgd_step/adam_step,
// and the CUDA single-parameter kernels are the multi-tensor kernel with one entry.
//
// The optimizers use them in eager mode when every parameter is on a CUDA device
// (multi_tensor_eligible). Graph recording keeps emitting the per-parameter ops, which the
// fuse_updates pass pattern-matches.
//
// Ops (inputs; attrs as the per-parameter op):
//   sgd_step_multi_           lr, then (param, grad, step) per parameter          (buffers=false)
//   sgd_momentum_step_multi_  lr, then (param, grad, step, momentum_buf) per param (buffers=true)
//   adam_step_multi_          lr, then (param, grad, exp_avg, exp_avg_sq, step) per parameter
// One call takes as many parameters as fit in OpDef's 32-bit input masks (10, 7 and 6); the
// functions below split longer lists into several calls.
#pragma once

#include <vector>

#include "duet/optim/updates.h"
#include "duet/tensor.h"
#include "ops/op_def.h"

namespace duet {

// The per-parameter ops (defined in optim_ops.cpp): the multi-tensor ops check each
// parameter's group with their infer functions.
const OpDef& sgd_step_def();
const OpDef& adam_step_def();
// Their attrs, from the update settings (the multi-tensor ops take the same ones).
Attrs sgd_step_attrs(const optim::SgdUpdate& u);
Attrs adam_step_attrs(const optim::AdamUpdate& u);

const OpDef& sgd_step_multi_def();
const OpDef& sgd_momentum_step_multi_def();
const OpDef& adam_step_multi_def();

namespace optim {

// True when the optimizers may use the multi-tensor ops: eager mode (no graph being recorded
// or traced, no symbolic tensor) and every parameter on a CUDA device.
bool multi_tensor_eligible(const std::vector<Tensor>& params, const std::vector<Tensor>& grads);

// sgd_step_(params[i], grads[i], bufs[i], lr, steps[i], u) for every i. bufs is empty (no
// momentum buffers) or holds one defined buffer per parameter.
void sgd_step_multi_(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                     const std::vector<Tensor>& bufs, const std::vector<Tensor>& steps,
                     const Tensor& lr, const SgdUpdate& u);

// adam_step_(params[i], grads[i], exp_avgs[i], exp_avg_sqs[i], lr, steps[i], u) for every i.
void adam_step_multi_(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                      const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs,
                      const std::vector<Tensor>& steps, const Tensor& lr, const AdamUpdate& u);

}  // namespace optim
}  // namespace duet
