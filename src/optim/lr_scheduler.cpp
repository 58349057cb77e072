// StepLR and CosineAnnealingLR in closed form.
#include "duet/optim/lr_scheduler.h"

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

}  // namespace duet::optim
