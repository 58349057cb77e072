// Optimizer base: parameter checks, zero_grad, the lr tensor, per-parameter state and step().
#include "duet/optim/optimizer.h"

#include <cmath>
#include <map>
#include <set>

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

void Optimizer::apply_gradients_unless_inf(const std::vector<Tensor>& grads,
                                           const Tensor& found_inf) {
  DUET_CHECK(skips_on_device(), name_,
             ": apply_gradients_unless_inf: this optimizer cannot skip its update on the device "
             "(expected one whose update ops take the loss-scaling gate: SGD, Adam, AdamW)");
  DUET_CHECK(found_inf.defined() && found_inf.dtype() == float32 && found_inf.shape().empty(),
             name_, ": apply_gradients_unless_inf: found_inf has shape ",
             found_inf.defined() ? shape_str(found_inf.shape()) : "(undefined)", " ",
             found_inf.defined() ? found_inf.dtype() : float32,
             " (expected a float32 scalar of shape ())");
  struct Reset {
    Tensor& t;
    ~Reset() { t = Tensor(); }
  } reset{found_inf_};
  found_inf_ = found_inf;
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

std::vector<std::pair<std::string, double>> Optimizer::hyperparameters() const {
  std::vector<std::pair<std::string, double>> h{{"lr", lr()}};
  for (auto& kv : extra_hyperparameters()) h.push_back(std::move(kv));
  return h;
}

OptimizerStateDict Optimizer::state_dict() const {
  OptimizerStateDict d{name_, hyperparameters(), {}};
  for (size_t i = 0; i < state_.size(); ++i)
    for (const auto& [key, t] : state_[i].tensors)
      d.state.emplace_back(std::to_string(i) + "." + key, t);
  return d;
}

void Optimizer::load_state_dict(const OptimizerStateDict& dict) {
  const std::string where = name_ + "::load_state_dict: ";
  DUET_CHECK(dict.name == name_, where, "the state dict is for optimizer '", dict.name,
             "' (expected '", name_, "')");
  // Hyper-parameters: exactly our names, finite values, then the subclass's checks.
  std::map<std::string, double> given_h;
  for (const auto& [k, v] : dict.hyperparameters) {
    DUET_CHECK(given_h.emplace(k, v).second, where, "hyper-parameter '", k,
               "' appears more than once");
    DUET_CHECK(std::isfinite(v), where, "hyper-parameter '", k, "' = ", v,
               " (expected a finite value)");
  }
  const auto own_h = hyperparameters();
  std::vector<std::pair<std::string, double>> extra;
  double new_lr = 0.0;
  for (const auto& [k, v] : own_h) {
    auto it = given_h.find(k);
    DUET_CHECK(it != given_h.end(), where, "missing hyper-parameter '", k, "' (", name_,
               " has it = ", v, ")");
    if (k == "lr")
      new_lr = it->second;
    else
      extra.emplace_back(k, it->second);
    given_h.erase(it);
  }
  DUET_CHECK(given_h.empty(), where, "unexpected hyper-parameter '",
             given_h.empty() ? std::string() : given_h.begin()->first, "' (", name_,
             " has no such hyper-parameter)");
  DUET_CHECK(new_lr >= 0.0, where, "lr = ", new_lr, " (expected >= 0)");
  check_hyperparameters(extra);
  // State tensors: exactly our keys, each with our shape and dtype.
  std::map<std::string, const Tensor*> given;
  for (const auto& [k, t] : dict.state)
    DUET_CHECK(given.emplace(k, &t).second, where, "state key '", k, "' appears more than once");
  std::vector<std::pair<Tensor, const Tensor*>> todo;
  for (size_t i = 0; i < state_.size(); ++i) {
    for (const auto& [key, dst] : state_[i].tensors) {
      const std::string k = std::to_string(i) + "." + key;
      auto it = given.find(k);
      DUET_CHECK(it != given.end(), where, "missing state key '", k, "' (expected shape ",
                 shape_str(dst.shape()), " ", dst.dtype(), "; the state dict has ",
                 dict.state.size(), " state tensors for ", name_, "'s ", state_.size(),
                 " parameters)");
      const Tensor& src = *it->second;
      DUET_CHECK(src.defined() && !src.is_symbolic(), where, "state key '", k,
                 "' holds no data (an undefined or symbolic tensor)");
      DUET_CHECK(src.shape() == dst.shape() && src.dtype() == dst.dtype(), where,
                 "state key '", k, "' has shape ", shape_str(src.shape()), " ", src.dtype(),
                 " but the optimizer expects ", shape_str(dst.shape()), " ", dst.dtype());
      todo.emplace_back(dst, &src);
      given.erase(it);
    }
  }
  DUET_CHECK(given.empty(), where, "unexpected state key '",
             given.empty() ? std::string() : given.begin()->first, "' (", name_, " has ",
             state_.size(), " parameters and no such state)");
  // Nothing below can fail.
  NoGradGuard no_grad;
  for (auto& [dst, src] : todo) dst.copy_(*src);
  lr_.fill_(new_lr);
  set_extra_hyperparameters(extra);
}

}  // namespace duet::optim
