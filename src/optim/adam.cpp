// Adam and AdamW: zero-initialised moments and a per-parameter step count (as PyTorch),
// created up front so eager and graph mode share them. Eager steps on CUDA use the
// multi-tensor op (ops/multi_tensor_ops.h), bit-identical to the per-parameter one.
#include "duet/optim/adam.h"

#include "duet/autograd.h"
#include "duet/optim/updates.h"
#include "ops/multi_tensor_ops.h"

namespace duet::optim {

Adam::Adam(std::vector<Tensor> params, double lr, std::pair<double, double> betas, double eps,
           double weight_decay)
    : Adam(std::move(params), lr, betas, eps, weight_decay, false, "Adam") {}

Adam::Adam(std::vector<Tensor> params, double lr, std::pair<double, double> betas, double eps_,
           double weight_decay_, bool decoupled, std::string name)
    : Optimizer(std::move(params), lr, std::move(name)),
      beta1(betas.first),
      beta2(betas.second),
      eps(eps_),
      weight_decay(weight_decay_),
      decoupled_(decoupled) {
  check_hyperparameters(extra_hyperparameters());
  for (size_t i = 0; i < params_.size(); ++i) {
    add_state_like_param(i, "exp_avg");
    add_state_like_param(i, "exp_avg_sq");
  }
}

std::vector<std::pair<std::string, double>> Adam::extra_hyperparameters() const {
  return {{"beta1", beta1}, {"beta2", beta2}, {"eps", eps}, {"weight_decay", weight_decay}};
}

void Adam::check_hyperparameters(const std::vector<std::pair<std::string, double>>& h) const {
  const double b1 = h.at(0).second, b2 = h.at(1).second, e = h.at(2).second, wd = h.at(3).second;
  DUET_CHECK(b1 >= 0.0 && b1 < 1.0 && b2 >= 0.0 && b2 < 1.0, name_, ": betas = (", b1, ", ", b2,
             ") (expected each in [0, 1))");
  DUET_CHECK(e >= 0.0, name_, ": eps = ", e, " (expected >= 0)");
  DUET_CHECK(wd >= 0.0, name_, ": weight_decay = ", wd, " (expected >= 0)");
}

void Adam::set_extra_hyperparameters(const std::vector<std::pair<std::string, double>>& h) {
  beta1 = h.at(0).second;
  beta2 = h.at(1).second;
  eps = h.at(2).second;
  weight_decay = h.at(3).second;
}

void Adam::apply_gradients(const std::vector<Tensor>& grads) {
  check_grads(grads);
  NoGradGuard no_grad;
  const AdamUpdate update{.beta1 = beta1,
                          .beta2 = beta2,
                          .eps = eps,
                          .weight_decay = weight_decay,
                          .decoupled = decoupled_};
  // A gated step (loss scaling) uses the per-parameter ops, which take the gate.
  if (!found_inf_.defined() && multi_tensor_eligible(params_, grads)) {  // eager on CUDA: a few launches in all
    std::vector<Tensor> p, g, m, v, steps;
    for (size_t i = 0; i < params_.size(); ++i) {
      if (!grads[i].defined()) continue;
      const ParamState& st = state_[i];
      p.push_back(params_[i]);
      g.push_back(grads[i]);
      m.push_back(st.get("exp_avg"));
      v.push_back(st.get("exp_avg_sq"));
      steps.push_back(st.get("step"));
    }
    adam_step_multi_(p, g, m, v, steps, lr_, update);
    return;
  }
  // CPU, and graph recording (the fuse_updates pass matches the per-parameter op).
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!grads[i].defined()) continue;
    const ParamState& st = state_[i];
    adam_step_(params_[i], grads[i], st.get("exp_avg"), st.get("exp_avg_sq"), lr_, st.get("step"),
               update, found_inf_);
  }
}

AdamW::AdamW(std::vector<Tensor> params, double lr, std::pair<double, double> betas, double eps,
             double weight_decay)
    : Adam(std::move(params), lr, betas, eps, weight_decay, true, "AdamW") {}

}  // namespace duet::optim
