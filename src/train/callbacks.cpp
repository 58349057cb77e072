// EarlyStopping and LRSchedule (duet/train/callbacks.h).
#include "duet/train/callbacks.h"

#include <cmath>
#include <limits>

#include "duet/autograd.h"
#include "duet/nn/module.h"

namespace duet::train {

EarlyStopping::EarlyStopping(EarlyStoppingOptions options) : options_(std::move(options)) {
  DUET_CHECK(options_.mode == "min" || options_.mode == "max" || options_.mode == "auto",
             "EarlyStopping: mode '", options_.mode, "' (expected 'min', 'max' or 'auto')");
  DUET_CHECK(options_.patience >= 0, "EarlyStopping: patience = ", options_.patience,
             " (expected >= 0)");
  DUET_CHECK(std::isfinite(options_.min_delta), "EarlyStopping: min_delta = ", options_.min_delta,
             " (expected finite)");
  maximize_ = options_.mode == "max" ||
              (options_.mode == "auto" && options_.monitor.find("acc") != std::string::npos);
}

bool EarlyStopping::improved(double value) const {
  const double d = std::abs(options_.min_delta);
  return maximize_ ? value - d > best_ : value + d < best_;
}

void EarlyStopping::on_train_begin(FitState&) {
  best_ = maximize_ ? -std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::infinity();
  best_epoch_ = stopped_epoch_ = -1;
  wait_ = 0;
  best_weights_.clear();
}

void EarlyStopping::on_epoch_end(FitState& state, const Logs& logs) {
  const double value = logs.at(options_.monitor);
  ++wait_;
  if (improved(value)) {
    best_ = value;
    best_epoch_ = state.epoch;
    wait_ = 0;
    if (options_.restore_best_weights && state.model) {
      NoGradGuard no_grad;
      best_weights_.clear();
      for (const auto& [name, t] : state.model->state_dict()) best_weights_.emplace_back(t, t.clone());
    }
    return;
  }
  if (wait_ >= options_.patience && state.epoch > 0) {
    stopped_epoch_ = state.epoch;
    state.stop_training = true;
  }
}

void EarlyStopping::on_train_end(FitState& state) {
  if (!options_.restore_best_weights || best_weights_.empty() || !state.model) return;
  if (!state.history || state.history->epochs.empty()) return;
  NoGradGuard no_grad;
  // In place: optimizers and compiled steps hold these very tensors.
  for (auto& [live, copy] : best_weights_) live.copy_(copy);
}

LRSchedule::LRSchedule(std::shared_ptr<optim::LRScheduler> scheduler, Interval interval,
                       std::string monitor)
    : scheduler_(std::move(scheduler)), interval_(interval), monitor_(std::move(monitor)) {
  DUET_CHECK(scheduler_ != nullptr, "LRSchedule: the scheduler is null");
  DUET_CHECK(!(interval_ == Interval::step &&
               dynamic_cast<optim::ReduceLROnPlateau*>(scheduler_.get())),
             "LRSchedule: ReduceLROnPlateau monitors an epoch value (expected Interval::epoch)");
}

void LRSchedule::on_batch_end(FitState&, const Logs&) {
  if (interval_ == Interval::step) scheduler_->step();
}

void LRSchedule::on_epoch_end(FitState&, const Logs& logs) {
  if (interval_ != Interval::epoch) return;
  if (auto* plateau = dynamic_cast<optim::ReduceLROnPlateau*>(scheduler_.get()))
    plateau->step(logs.at(monitor_));
  else
    scheduler_->step();
}

}  // namespace duet::train
