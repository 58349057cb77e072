// Optimizer base: parameter checks, zero_grad, lr and per-parameter state.
#include "duet/optim/optimizer.h"

namespace duet::optim {

Tensor ParamState::get(const std::string& key) const {
  for (const auto& [k, t] : tensors)
    if (k == key) return t;
  return Tensor();
}

void ParamState::set(const std::string& key, const Tensor& t) {
  for (auto& [k, v] : tensors) {
    if (k == key) {
      v = t;
      return;
    }
  }
  tensors.emplace_back(key, t);
}

Optimizer::Optimizer(std::vector<Tensor> params, double lr, std::string name)
    : params_(std::move(params)), state_(params_.size()), lr_(lr), name_(std::move(name)) {
  DUET_CHECK(lr >= 0.0, name_, ": lr = ", lr, " (expected >= 0)");
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    DUET_CHECK(p.defined(), name_, ": parameter ", i, " is an undefined tensor");
    DUET_CHECK(is_floating(p.dtype()), name_, ": parameter ", i, " has dtype ", p.dtype(),
               " (expected float32 or float64)");
    DUET_CHECK(p.is_leaf(), name_, ": parameter ", i, " of shape ", shape_str(p.shape()),
               " is not a leaf tensor (expected a parameter, not the result of an op)");
  }
}

void Optimizer::zero_grad() {
  for (auto& p : params_) p.zero_grad();
}

void Optimizer::set_lr(double lr) {
  DUET_CHECK(lr >= 0.0, name_, ": lr = ", lr, " (expected >= 0)");
  lr_ = lr;
}

const ParamState& Optimizer::state(size_t i) const {
  DUET_CHECK(i < state_.size(), name_, ": parameter index ", i, " out of range (",
             state_.size(), " parameters)");
  return state_[i];
}

}  // namespace duet::optim
