// Optimizer base: parameter checks, zero_grad, the lr tensor, per-parameter state and step().
#include "duet/optim/optimizer.h"

#include "duet/autograd.h"

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

int64_t ParamState::step() const {
  Tensor s = get("step");
  return s.defined() ? s.item<int64_t>() : 0;
}

Optimizer::Optimizer(std::vector<Tensor> params, double lr, std::string name)
    : params_(std::move(params)), state_(params_.size()), name_(std::move(name)) {
  DUET_CHECK(lr >= 0.0, name_, ": lr = ", lr, " (expected >= 0)");
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    DUET_CHECK(p.defined(), name_, ": parameter ", i, " is an undefined tensor");
    DUET_CHECK(!p.is_symbolic(), name_, ": parameter ", i,
               " is a symbolic (graph) tensor (expected a concrete parameter)");
    DUET_CHECK(is_floating(p.dtype()), name_, ": parameter ", i, " has dtype ", p.dtype(),
               " (expected float32 or float64)");
    DUET_CHECK(p.is_leaf(), name_, ": parameter ", i, " of shape ", shape_str(p.shape()),
               " is not a leaf tensor (expected a parameter, not the result of an op)");
  }
  // The update ops need every input on one device: the lr lives with the parameters.
  const Device dev = params_.empty() ? cpu : params_[0].device();
  lr_ = Tensor::full({}, lr, float64, dev);
  for (size_t i = 0; i < params_.size(); ++i)
    state_[i].set("step", Tensor::zeros({}, int64, params_[i].device()));
}

Tensor Optimizer::add_state_like_param(size_t i, const std::string& key) {
  const Tensor& p = params_[i];
  Tensor t = Tensor::zeros(p.shape(), p.dtype(), p.device());
  state_[i].set(key, t);
  return t;
}

void Optimizer::check_grads(const std::vector<Tensor>& grads) const {
  DUET_CHECK(grads.size() == params_.size(), name_, ": apply_gradients got ", grads.size(),
             " gradients for ", params_.size(), " parameters (expected one per parameter)");
  for (size_t i = 0; i < grads.size(); ++i) {
    const Tensor& g = grads[i];
    if (!g.defined()) continue;
    DUET_CHECK(g.shape() == params_[i].shape() && g.dtype() == params_[i].dtype(), name_,
               ": gradient ", i, " has shape ", shape_str(g.shape()), " ", g.dtype(),
               " but parameter ", i, " has shape ", shape_str(params_[i].shape()), " ",
               params_[i].dtype(), " (expected the same shape and dtype)");
  }
}

void Optimizer::step() {
  std::vector<Tensor> grads;
  grads.reserve(params_.size());
  for (const Tensor& p : params_) grads.push_back(p.grad());
  apply_gradients(grads);
}

void Optimizer::zero_grad() {
  for (auto& p : params_) p.zero_grad();
}

double Optimizer::lr() const {
  return lr_.item<double>();
}

void Optimizer::set_lr(double lr) {
  DUET_CHECK(lr >= 0.0, name_, ": lr = ", lr, " (expected >= 0)");
  NoGradGuard no_grad;
  lr_.fill_(lr);  // in place: compiled graphs hold this very tensor
}

const ParamState& Optimizer::state(size_t i) const {
  DUET_CHECK(i < state_.size(), name_, ": parameter index ", i, " out of range (", state_.size(),
             " parameters)");
  return state_[i];
}

}  // namespace duet::optim
