// The fused parameter updates behind the optimizers, as ops (so graph mode can append them).
// They write param and the state tensors in place, record no gradient, and follow PyTorch's
// single-tensor formulas exactly.
//
// Values that change from step to step are tensors, never attributes, so a compiled graph
// reads them at run time instead of freezing the value seen while it was built:
//   lr:   float64 scalar () — the optimizer's lr_tensor(), shared by all its parameters;
//   step: int64 scalar ()   — the parameter's update count, incremented by the op itself.
// Hyperparameters that never change (momentum, betas, eps, weight decay, ...) are attributes.
//
//   Tensor lr = Tensor::scalar(0.1, duet::float64), step = Tensor::zeros({}, duet::int64);
//   duet::optim::sgd_step_(w, w.grad(), buf, lr, step, {.momentum = 0.9});   // step: 0 -> 1
//   duet::optim::adam_step_(w, w.grad(), m, v, lr, step, {.beta1 = 0.9});    // step: 1 -> 2
#pragma once

#include <cstdint>
#include <source_location>

#include "duet/tensor.h"

namespace duet::optim {

struct SgdUpdate {
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

// Op "sgd_step_": g = grad + weight_decay * param;
//   with momentum: buf = (step == 0) ? g : momentum * buf + (1 - dampening) * g
//                  (the buffer starts as the first (decayed) gradient, as PyTorch);
//                  g = nesterov ? g + momentum * buf : buf
//   param -= lr * g; step += 1.
// param, grad and momentum_buf share shape and dtype; momentum_buf is undefined (and not an
// input of the op) when momentum == 0. The op's inputs, in order, are
// (param, grad, lr, step[, momentum_buf]): the optional buffer comes last so the op's
// mutates_inputs mask (param, step, momentum_buf) is the same with and without it.
void sgd_step_(const Tensor& param, const Tensor& grad, const Tensor& momentum_buf,
               const Tensor& lr, const Tensor& step, const SgdUpdate& update,
               std::source_location loc = std::source_location::current());
// Gated (loss scaling, duet/amp.h): the same update when found_inf (float32 () on the
// parameter's device) is 0; when it is nonzero the kernel changes nothing (param, buffer and
// step stay bit-identical), decided on the device without a host read. The op gets attr
// gated = true and found_inf as its last input (undefined found_inf: the ungated op). Without
// momentum the flag takes the buffer's slot (input 4), so graph passes count it as written
// there: harmless, it only orders that update after earlier readers of the flag.
void sgd_step_(const Tensor& param, const Tensor& grad, const Tensor& momentum_buf,
               const Tensor& lr, const Tensor& step, const SgdUpdate& update,
               const Tensor& found_inf,
               std::source_location loc = std::source_location::current());

struct AdamUpdate {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool decoupled = false;  // AdamW: param *= 1 - lr * weight_decay; Adam: grad += wd * param
};

// Op "adam_step_", inputs (param, grad, exp_avg, exp_avg_sq, lr, step): step += 1 first, then
// with the new step count t: exp_avg = lerp(exp_avg, g, 1 - beta1);
// exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g^2;
// param -= lr / (1 - beta1^t) * exp_avg / (sqrt(exp_avg_sq) / sqrt(1 - beta2^t) + eps).
// Mutates param, exp_avg, exp_avg_sq and step.
void adam_step_(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                const Tensor& exp_avg_sq, const Tensor& lr, const Tensor& step,
                const AdamUpdate& update,
                std::source_location loc = std::source_location::current());
// Gated as sgd_step_ above: nothing changes (param, moments, step) when found_inf != 0.
void adam_step_(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                const Tensor& exp_avg_sq, const Tensor& lr, const Tensor& step,
                const AdamUpdate& update, const Tensor& found_inf,
                std::source_location loc = std::source_location::current());

}  // namespace duet::optim
