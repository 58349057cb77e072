// duet::amp::GradScaler (duet/amp.h): dynamic loss scaling with its state in device tensors,
// updated by the ops of src/ops/amp_ops.h, so eager and graph mode share one code path.
#include <cmath>
#include <map>

#include "duet/amp.h"
#include "duet/autograd.h"
#include "duet/ops/elementwise.h"
#include "duet/optim/optimizer.h"
#include "graph/ir.h"
#include "ops/amp_ops.h"

namespace duet::amp {

namespace {

// 1 / scale, float32 (): one op, the same eagerly and in a graph.
Tensor inverse(const Tensor& scale) {
  return rdiv(scale, 1.0);
}

}  // namespace

GradScaler::GradScaler(GradScalerOptions options) : options_(options) {
  const GradScalerOptions& o = options_;
  DUET_CHECK(std::isfinite(o.init_scale) && o.init_scale > 0.0,
             "GradScaler: init_scale = ", o.init_scale, " (expected a finite value > 0)");
  DUET_CHECK(std::isfinite(o.growth_factor) && o.growth_factor > 1.0,
             "GradScaler: growth_factor = ", o.growth_factor, " (expected a finite value > 1)");
  DUET_CHECK(o.backoff_factor > 0.0 && o.backoff_factor < 1.0,
             "GradScaler: backoff_factor = ", o.backoff_factor, " (expected a value in (0, 1))");
  DUET_CHECK(o.growth_interval >= 1, "GradScaler: growth_interval = ", o.growth_interval,
             " (expected >= 1)");
  DUET_CHECK(static_cast<double>(static_cast<float>(o.init_scale)) <= 3.4028234663852886e38,
             "GradScaler: init_scale = ", o.init_scale, " (expected a value float32 can hold)");
  scale_ = Tensor::full({}, o.init_scale, float32);
  growth_tracker_ = Tensor::zeros({}, int64);
  found_inf_ = Tensor::zeros({}, float32);
  skipped_ = Tensor::zeros({}, int64);
}

void GradScaler::place(Device device) {
  if (scale_.device() == device) {
    placed_ = true;
    return;
  }
  DUET_CHECK(!placed_, "GradScaler: its state is on ", scale_.device(),
             " but this call uses tensors on ", device,
             " (expected one device per scaler: the parameters')");
  NoGradGuard no_grad;
  detail::PauseRecording eager;  // a move of the state, never a node of a graph being built
  scale_ = scale_.to(device);
  growth_tracker_ = growth_tracker_.to(device);
  found_inf_ = found_inf_.to(device);
  skipped_ = skipped_.to(device);
  placed_ = true;
}

Tensor GradScaler::scale(const Tensor& loss) {
  if (!enabled()) return loss;
  DUET_CHECK(loss.defined(), "GradScaler::scale: the loss is an undefined tensor");
  DUET_CHECK(is_floating(loss.dtype()), "GradScaler::scale: the loss has dtype ", loss.dtype(),
             " (expected a floating dtype)");
  place(loss.device());
  const Tensor s = loss.dtype() == float32 ? scale_ : scale_.to(loss.dtype());
  return mul(loss, s);
}

void GradScaler::unscale_(optim::Optimizer& opt) {
  if (!enabled()) return;
  DUET_CHECK(!unscaled_,
             "GradScaler::unscale_: already called since the last update() "
             "(expected one unscale_/step per update(), with one optimizer)");
  std::vector<Tensor> grads;
  for (const Tensor& p : opt.params()) grads.push_back(p.grad());
  if (!opt.params().empty()) place(opt.params()[0].device());
  auto [found_inf, unscaled] = unscale(grads, inverse(scale_));
  for (size_t i = 0; i < grads.size(); ++i)
    if (unscaled[i].defined()) opt.params()[i].set_grad(unscaled[i]);
  found_inf_ = found_inf;
  unscaled_ = true;
}

bool GradScaler::step(optim::Optimizer& opt) {
  if (!enabled()) {
    opt.step();
    return true;
  }
  if (!unscaled_) unscale_(opt);
  const bool skip = found_inf_.item<float>() != 0.0f;
  if (!skip) opt.step();
  return !skip;
}

void GradScaler::update() {
  if (!enabled()) return;
  DUET_CHECK(unscaled_,
             "GradScaler::update: no inf/NaN check since the last update() "
             "(expected step(opt) or unscale_(opt) first)");
  update_scale_(scale_, growth_tracker_, found_inf_, skipped_, options_.growth_factor,
                options_.backoff_factor, options_.growth_interval);
  unscaled_ = false;
}

void GradScaler::apply_gradients(optim::Optimizer& opt, const std::vector<Tensor>& scaled_grads) {
  if (!enabled()) {
    opt.apply_gradients(scaled_grads);
    return;
  }
  DUET_CHECK(scaled_grads.size() == opt.params().size(), "GradScaler::apply_gradients: got ",
             scaled_grads.size(), " gradients for ", opt.params().size(),
             " parameters (expected one per parameter)");
  DUET_CHECK(opt.skips_on_device(), "GradScaler::apply_gradients: optimizer ", opt.name(),
             " cannot skip its update on the device (expected SGD, Adam or AdamW)");
  if (!opt.params().empty()) place(opt.params()[0].device());
  auto [found_inf, unscaled] = unscale_gradients(scaled_grads);
  opt.apply_gradients_unless_inf(unscaled, found_inf);
  update(found_inf);
}

std::pair<Tensor, std::vector<Tensor>> GradScaler::unscale_gradients(
    const std::vector<Tensor>& scaled_grads) {
  if (!enabled()) return {Tensor(), scaled_grads};
  for (const Tensor& g : scaled_grads)
    if (g.defined()) {
      place(g.device());
      break;
    }
  return unscale(scaled_grads, inverse(scale_));
}

void GradScaler::update(const Tensor& found_inf) {
  if (!enabled()) return;
  DUET_CHECK(found_inf.defined() && found_inf.dtype() == float32 && found_inf.shape().empty(),
             "GradScaler::update: found_inf has shape ",
             found_inf.defined() ? shape_str(found_inf.shape()) : "(undefined)",
             " (expected the float32 scalar of unscale_gradients)");
  update_scale_(scale_, growth_tracker_, found_inf, skipped_, options_.growth_factor,
                options_.backoff_factor, options_.growth_interval);
  // Eagerly, found_inf() reports this step; in a graph the flag is a value of the graph.
  if (!found_inf.is_symbolic()) found_inf_ = found_inf;
  unscaled_ = false;
}

double GradScaler::get_scale() const {
  return enabled() ? static_cast<double>(scale_.item<float>()) : 1.0;
}

int64_t GradScaler::skipped_steps() const {
  return skipped_.item<int64_t>();
}

const Tensor& GradScaler::scale_tensor() const {
  return scale_;
}

const Tensor& GradScaler::found_inf() const {
  return found_inf_;
}

std::vector<std::pair<std::string, Tensor>> GradScaler::state_dict() const {
  return {{"scale", scale_}, {"growth_tracker", growth_tracker_}};
}

void GradScaler::load_state_dict(const std::vector<std::pair<std::string, Tensor>>& state) {
  const char* where = "GradScaler::load_state_dict: ";
  std::map<std::string, const Tensor*> given;
  for (const auto& [k, t] : state)
    DUET_CHECK(given.emplace(k, &t).second, where, "key '", k, "' appears more than once");
  std::vector<std::pair<Tensor, const Tensor*>> todo;
  for (const auto& [key, dst] : state_dict()) {
    auto it = given.find(key);
    DUET_CHECK(it != given.end(), where, "missing key '", key, "' (expected a ", dst.dtype(),
               " scalar of shape (); the keys are 'scale' and 'growth_tracker')");
    const Tensor& src = *it->second;
    DUET_CHECK(src.defined() && !src.is_symbolic(), where, "key '", key,
               "' holds no data (an undefined or symbolic tensor)");
    DUET_CHECK(src.shape().empty() && src.dtype() == dst.dtype(), where, "key '", key,
               "' has shape ", shape_str(src.shape()), " ", src.dtype(), " (expected a ",
               dst.dtype(), " scalar of shape ())");
    todo.emplace_back(dst, &src);
    given.erase(it);
  }
  DUET_CHECK(given.empty(), where, "unexpected key '",
             given.empty() ? std::string() : given.begin()->first,
             "' (expected only 'scale' and 'growth_tracker')");
  const double s = todo[0].second->item<double>();
  DUET_CHECK(std::isfinite(s) && s > 0.0, where, "scale = ", s, " (expected a finite value > 0)");
  const int64_t g = todo[1].second->item<int64_t>();
  DUET_CHECK(g >= 0 && g < options_.growth_interval, where, "growth_tracker = ", g,
             " (expected a count in [0, growth_interval = ", options_.growth_interval, "))");
  NoGradGuard no_grad;
  for (auto& [dst, src] : todo) dst.copy_(*src);
}

}  // namespace duet::amp
