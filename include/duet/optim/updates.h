// The fused parameter updates behind the optimizers, as ops (so graph mode can append them).
// They write param and the state tensors in place, record no gradient, and follow PyTorch's
// single-tensor formulas exactly.
//
//   duet::optim::sgd_step_(w, w.grad(), buf, {.lr = 0.1, .momentum = 0.9, .first_step = true});
//   duet::optim::adam_step_(w, w.grad(), m, v, {.lr = 1e-3, .step = 1});
#pragma once

#include <cstdint>

#include "duet/tensor.h"

namespace duet::optim {

struct SgdUpdate {
  double lr = 0.01;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
  bool first_step = false;  // the momentum buffer is initialised to the (decayed) gradient
};

// Op "sgd_step_": g = grad + weight_decay * param;
//   with momentum: buf = first_step ? g : momentum * buf + (1 - dampening) * g;
//                  g = nesterov ? g + momentum * buf : buf
//   param -= lr * g.
// momentum_buf may be undefined when momentum == 0. All tensors share shape and dtype.
void sgd_step_(const Tensor& param, const Tensor& grad, const Tensor& momentum_buf,
               const SgdUpdate& update);

struct AdamUpdate {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool decoupled = false;  // AdamW: param *= 1 - lr * weight_decay; Adam: grad += wd * param
  int64_t step = 1;        // the step count after this update (>= 1), for bias correction
};

// Op "adam_step_": exp_avg = lerp(exp_avg, g, 1 - beta1); exp_avg_sq = beta2 * exp_avg_sq +
// (1 - beta2) * g^2; param -= lr / (1 - beta1^step) * exp_avg /
// (sqrt(exp_avg_sq) / sqrt(1 - beta2^step) + eps).
void adam_step_(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                const Tensor& exp_avg_sq, const AdamUpdate& update);

}  // namespace duet::optim
