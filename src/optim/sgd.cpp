// SGD: momentum buffers are created (zeros) up front; the sgd_step_ op initialises a buffer
// with the first gradient when the parameter's step count is 0 (as PyTorch). Eager steps on
// CUDA use the multi-tensor op (ops/multi_tensor_ops.h), bit-identical to the per-parameter one.
#include "duet/optim/sgd.h"

#include "duet/autograd.h"
#include "duet/optim/updates.h"
#include "ops/multi_tensor_ops.h"

namespace duet::optim {

SGD::SGD(std::vector<Tensor> params, double lr, double momentum_, double dampening_,
         double weight_decay_, bool nesterov_)
    : Optimizer(std::move(params), lr, "SGD"),
      momentum(momentum_),
      dampening(dampening_),
      weight_decay(weight_decay_),
      nesterov(nesterov_) {
  check_hyperparameters(extra_hyperparameters());
  if (momentum != 0.0)
    for (size_t i = 0; i < params_.size(); ++i) add_state_like_param(i, "momentum_buffer");
}

std::vector<std::pair<std::string, double>> SGD::extra_hyperparameters() const {
  return {{"momentum", momentum},
          {"dampening", dampening},
          {"weight_decay", weight_decay},
          {"nesterov", nesterov ? 1.0 : 0.0}};
}

void SGD::check_hyperparameters(const std::vector<std::pair<std::string, double>>& h) const {
  const double m = h.at(0).second, d = h.at(1).second, wd = h.at(2).second, n = h.at(3).second;
  DUET_CHECK(m >= 0.0, "SGD: momentum = ", m, " (expected >= 0)");
  DUET_CHECK(wd >= 0.0, "SGD: weight_decay = ", wd, " (expected >= 0)");
  DUET_CHECK(n == 0.0 || n == 1.0, "SGD: nesterov = ", n, " (expected 0 or 1)");
  DUET_CHECK(n == 0.0 || (m > 0.0 && d == 0.0),
             "SGD: nesterov momentum requires momentum > 0 and dampening = 0 (got momentum = ",
             m, ", dampening = ", d, ")");
  // The momentum buffers exist only when the optimizer was built with momentum.
  DUET_CHECK((m != 0.0) == (momentum != 0.0), "SGD: momentum = ", m, " but this optimizer was ",
             momentum != 0.0 ? "built with" : "built without",
             " momentum buffers (momentum = ", momentum, "; expected ",
             momentum != 0.0 ? "a nonzero" : "zero", " momentum)");
}

void SGD::set_extra_hyperparameters(const std::vector<std::pair<std::string, double>>& h) {
  momentum = h.at(0).second;
  dampening = h.at(1).second;
  weight_decay = h.at(2).second;
  nesterov = h.at(3).second != 0.0;
}

void SGD::apply_gradients(const std::vector<Tensor>& grads) {
  check_grads(grads);
  NoGradGuard no_grad;
  const SgdUpdate update{.momentum = momentum,
                         .dampening = dampening,
                         .weight_decay = weight_decay,
                         .nesterov = nesterov};
  // A gated step (loss scaling) uses the per-parameter ops, which take the gate.
  if (!found_inf_.defined() && multi_tensor_eligible(params_, grads)) {  // eager on CUDA: a few launches in all
    std::vector<Tensor> p, g, bufs, steps;
    for (size_t i = 0; i < params_.size(); ++i) {
      if (!grads[i].defined()) continue;
      const ParamState& st = state_[i];
      p.push_back(params_[i]);
      g.push_back(grads[i]);
      steps.push_back(st.get("step"));
      if (momentum != 0.0) bufs.push_back(st.get("momentum_buffer"));
    }
    sgd_step_multi_(p, g, bufs, steps, lr_, update);
    return;
  }
  // CPU, and graph recording (the fuse_updates pass matches the per-parameter op).
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!grads[i].defined()) continue;
    const ParamState& st = state_[i];
    sgd_step_(params_[i], grads[i], st.get("momentum_buffer"), lr_, st.get("step"), update,
              found_inf_);
  }
}

}  // namespace duet::optim
