// Learning-rate schedules in PyTorch's closed forms, their state, and ReduceLROnPlateau.
#include "duet/optim/lr_scheduler.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace duet::optim {

LRScheduler::LRScheduler(Optimizer& optimizer)
    : optimizer_(optimizer), base_lr_(optimizer.lr()), last_lr_(optimizer.lr()) {}

void LRScheduler::apply() {
  last_lr_ = lr_at(last_epoch_);
  optimizer_.set_lr(last_lr_);
}

void LRScheduler::step() {
  ++last_epoch_;
  apply();
}

double LRScheduler::state_value(const SchedulerState& state, const std::string& key) const {
  for (const auto& [k, v] : state)
    if (k == key) return v;
  std::string keys;
  for (const auto& [k, v] : state) keys += (keys.empty() ? "" : ", ") + k;
  throw Error(detail::cat(name(), "::load_state_dict: missing key '", key,
                          "' (the state holds: ", keys.empty() ? "nothing" : keys, ")"));
}

void LRScheduler::check_state_keys(const SchedulerState& state,
                                   const std::vector<std::string>& keys) const {
  for (size_t i = 0; i < state.size(); ++i) {
    const std::string& k = state[i].first;
    DUET_CHECK(std::find(keys.begin(), keys.end(), k) != keys.end(), name(),
               "::load_state_dict: unexpected key '", k, "' (a ", name(), " state holds ",
               keys.size(), " keys)");
    for (size_t j = 0; j < i; ++j)
      DUET_CHECK(state[j].first != k, name(), "::load_state_dict: key '", k, "' appears twice");
  }
}

SchedulerState LRScheduler::state_dict() const {
  return {{"last_epoch", static_cast<double>(last_epoch_)},
          {"base_lr", base_lr_},
          {"last_lr", last_lr_}};
}

void LRScheduler::load_state_dict(const SchedulerState& state) {
  check_state_keys(state, {"last_epoch", "base_lr", "last_lr"});
  const double epoch = state_value(state, "last_epoch");
  const double base = state_value(state, "base_lr");
  const double last = state_value(state, "last_lr");
  // 2^53: every integer below it is exact in a double.
  DUET_CHECK(std::isfinite(epoch) && epoch == std::floor(epoch) && epoch >= 0 && epoch <= 9e15,
             name(), "::load_state_dict: last_epoch = ", epoch,
             " (expected a non-negative integer)");
  // Everything is checked before anything changes (the optimizer refuses a negative lr).
  DUET_CHECK(std::isfinite(base) && std::isfinite(last) && base >= 0 && last >= 0, name(),
             "::load_state_dict: base_lr = ", base, ", last_lr = ", last,
             " (expected finite and >= 0)");
  last_epoch_ = static_cast<int64_t>(epoch);
  base_lr_ = base;
  last_lr_ = last;
  optimizer_.set_lr(last_lr_);
}

StepLR::StepLR(Optimizer& optimizer, int64_t step_size_, double gamma_)
    : LRScheduler(optimizer), step_size(step_size_), gamma(gamma_) {
  DUET_CHECK(step_size > 0, "StepLR: step_size = ", step_size, " (expected > 0)");
  apply();
}

double StepLR::lr_at(int64_t epoch) const {
  return base_lr_ * std::pow(gamma, static_cast<double>(epoch / step_size));
}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t T_max_, double eta_min_)
    : LRScheduler(optimizer), T_max(T_max_), eta_min(eta_min_) {
  DUET_CHECK(T_max > 0, "CosineAnnealingLR: T_max = ", T_max, " (expected > 0)");
  apply();
}

double CosineAnnealingLR::lr_at(int64_t epoch) const {
  const double t = static_cast<double>(epoch) / static_cast<double>(T_max);
  return eta_min + (base_lr_ - eta_min) * (1.0 + std::cos(std::numbers::pi * t)) / 2.0;
}

LinearLR::LinearLR(Optimizer& optimizer, double start_factor_, double end_factor_,
                   int64_t total_iters_)
    : LRScheduler(optimizer),
      start_factor(start_factor_),
      end_factor(end_factor_),
      total_iters(total_iters_) {
  DUET_CHECK(start_factor > 0 && start_factor <= 1 && end_factor >= 0 && end_factor <= 1,
             name(), ": start_factor = ", start_factor, ", end_factor = ", end_factor,
             " (expected 0 < start_factor <= 1 and 0 <= end_factor <= 1)");
  DUET_CHECK(total_iters > 0, name(), ": total_iters = ", total_iters, " (expected > 0)");
  apply();
}

double LinearLR::lr_at(int64_t epoch) const {
  const double t = static_cast<double>(std::min(epoch, total_iters));
  return base_lr_ *
         (start_factor + (end_factor - start_factor) * t / static_cast<double>(total_iters));
}

SequentialLR::SequentialLR(Optimizer& optimizer,
                           std::vector<std::shared_ptr<LRScheduler>> schedulers,
                           std::vector<int64_t> milestones)
    : LRScheduler(optimizer), schedulers_(std::move(schedulers)), milestones_(std::move(milestones)) {
  DUET_CHECK(!schedulers_.empty() && milestones_.size() + 1 == schedulers_.size(),
             "SequentialLR: ", schedulers_.size(), " schedules and ", milestones_.size(),
             " milestones (expected one milestone fewer than schedules, at least one schedule)");
  for (size_t i = 0; i < schedulers_.size(); ++i) {
    DUET_CHECK(schedulers_[i] != nullptr, "SequentialLR: schedule ", i, " is null");
    DUET_CHECK(&schedulers_[i]->optimizer() == &optimizer, "SequentialLR: schedule ", i, " (",
               schedulers_[i]->name(), ") steps another optimizer");
  }
  for (size_t i = 0; i < milestones_.size(); ++i)
    DUET_CHECK(milestones_[i] > 0 && (i == 0 || milestones_[i] > milestones_[i - 1]),
               "SequentialLR: milestones[", i, "] = ", milestones_[i],
               " (expected positive and increasing)");
  // Each schedule read the optimizer's lr when it was built, after the previous one had set
  // it: they all take the first one's base_lr, as PyTorch's initial_lr does.
  base_lr_ = schedulers_[0]->base_lr_;
  for (auto& s : schedulers_) s->base_lr_ = base_lr_;
  apply();
}

double SequentialLR::lr_at(int64_t epoch) const {
  size_t i = 0;
  int64_t start = 0;
  while (i < milestones_.size() && epoch >= milestones_[i]) start = milestones_[i++];
  return schedulers_[i]->lr_at(epoch - start);
}

OneCycleLR::OneCycleLR(Optimizer& optimizer, double max_lr_, int64_t total_steps_,
                       OneCycleOptions options_)
    : LRScheduler(optimizer),
      max_lr(max_lr_),
      total_steps(total_steps_),
      options(std::move(options_)) {
  DUET_CHECK(total_steps > 0, "OneCycleLR: total_steps = ", total_steps, " (expected > 0)");
  DUET_CHECK(options.pct_start >= 0 && options.pct_start <= 1, "OneCycleLR: pct_start = ",
             options.pct_start, " (expected a float between 0 and 1)");
  DUET_CHECK(options.anneal_strategy == "cos" || options.anneal_strategy == "linear",
             "OneCycleLR: anneal_strategy '", options.anneal_strategy,
             "' (expected 'cos' or 'linear')");
  DUET_CHECK(max_lr > 0 && options.div_factor > 0 && options.final_div_factor > 0,
             "OneCycleLR: max_lr = ", max_lr, ", div_factor = ", options.div_factor,
             ", final_div_factor = ", options.final_div_factor, " (expected > 0)");
  const double initial = max_lr / options.div_factor;
  const double min_lr = initial / options.final_div_factor;
  const double n = static_cast<double>(total_steps), p = options.pct_start;
  if (options.three_phase)
    phases_ = {{p * n - 1, initial, max_lr}, {2 * p * n - 2, max_lr, initial}, {n - 1, initial, min_lr}};
  else
    phases_ = {{p * n - 1, initial, max_lr}, {n - 1, max_lr, min_lr}};
  base_lr_ = initial;
  apply();
}

double OneCycleLR::lr_at(int64_t epoch) const {
  const double step = static_cast<double>(epoch);
  double start_step = 0;
  for (size_t i = 0; i < phases_.size(); ++i) {
    const Phase& ph = phases_[i];
    if (step <= ph.end_step || i + 1 == phases_.size()) {
      const double pct = (step - start_step) / (ph.end_step - start_step);
      if (options.anneal_strategy == "cos")
        return ph.end_lr + (ph.start_lr - ph.end_lr) / 2.0 * (std::cos(std::numbers::pi * pct) + 1);
      return (ph.end_lr - ph.start_lr) * pct + ph.start_lr;
    }
    start_step = ph.end_step;
  }
  return last_lr_;  // not reached: the last phase always answers
}

void OneCycleLR::step() {
  DUET_CHECK(last_epoch_ + 1 <= total_steps, "OneCycleLR: tried to step ", last_epoch_ + 1,
             " times; the specified number of total steps is ", total_steps);
  LRScheduler::step();
}

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, PlateauOptions options_)
    : LRScheduler(optimizer), options(std::move(options_)) {
  DUET_CHECK(options.mode == "min" || options.mode == "max", "ReduceLROnPlateau: mode '",
             options.mode, "' (expected 'min' or 'max')");
  DUET_CHECK(options.threshold_mode == "rel" || options.threshold_mode == "abs",
             "ReduceLROnPlateau: threshold_mode '", options.threshold_mode,
             "' (expected 'rel' or 'abs')");
  DUET_CHECK(options.factor < 1.0 && options.factor >= 0, "ReduceLROnPlateau: factor = ",
             options.factor, " (expected 0 <= factor < 1)");
  DUET_CHECK(options.patience >= 0 && options.cooldown >= 0, "ReduceLROnPlateau: patience = ",
             options.patience, ", cooldown = ", options.cooldown, " (expected >= 0)");
  best_ = options.mode == "min" ? std::numeric_limits<double>::infinity()
                                : -std::numeric_limits<double>::infinity();
}

bool ReduceLROnPlateau::is_better(double a, double best) const {
  const bool rel = options.threshold_mode == "rel";
  if (options.mode == "min")
    return rel ? a < best * (1.0 - options.threshold) : a < best - options.threshold;
  return rel ? a > best * (options.threshold + 1.0) : a > best + options.threshold;
}

void ReduceLROnPlateau::step() {
  throw Error(
      "ReduceLROnPlateau: step() needs the monitored value: call step(metric) once per epoch");
}

void ReduceLROnPlateau::step(double metric) {
  ++last_epoch_;
  if (is_better(metric, best_)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;
  }
  if (num_bad_epochs_ > options.patience) {
    const double old_lr = optimizer_.lr();
    const double new_lr = std::max(old_lr * options.factor, options.min_lr);
    if (old_lr - new_lr > options.eps) optimizer_.set_lr(new_lr);
    cooldown_counter_ = options.cooldown;
    num_bad_epochs_ = 0;
  }
  last_lr_ = optimizer_.lr();
}

double ReduceLROnPlateau::lr_at(int64_t) const { return optimizer_.lr(); }

SchedulerState ReduceLROnPlateau::state_dict() const {
  SchedulerState s = LRScheduler::state_dict();
  s.emplace_back("best", best_);
  s.emplace_back("num_bad_epochs", static_cast<double>(num_bad_epochs_));
  s.emplace_back("cooldown_counter", static_cast<double>(cooldown_counter_));
  return s;
}

void ReduceLROnPlateau::load_state_dict(const SchedulerState& state) {
  check_state_keys(state, {"last_epoch", "base_lr", "last_lr", "best", "num_bad_epochs",
                           "cooldown_counter"});
  const double best = state_value(state, "best");
  const double bad = state_value(state, "num_bad_epochs");
  const double cool = state_value(state, "cooldown_counter");
  for (auto [key, v] : {std::pair{"num_bad_epochs", bad}, std::pair{"cooldown_counter", cool}})
    DUET_CHECK(std::isfinite(v) && v == std::floor(v) && v >= 0 && v <= 9e15,
               "ReduceLROnPlateau::load_state_dict: ", key, " = ", v,
               " (expected a non-negative integer)");
  DUET_CHECK(!std::isnan(best), "ReduceLROnPlateau::load_state_dict: best is NaN");
  SchedulerState base;
  for (const auto& kv : state)
    if (kv.first == "last_epoch" || kv.first == "base_lr" || kv.first == "last_lr")
      base.push_back(kv);
  LRScheduler::load_state_dict(base);
  best_ = best;
  num_bad_epochs_ = static_cast<int64_t>(bad);
  cooldown_counter_ = static_cast<int64_t>(cool);
}

}  // namespace duet::optim
