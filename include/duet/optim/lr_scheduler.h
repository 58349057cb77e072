// Learning-rate schedules, stepped once per epoch (PyTorch's closed forms).
//
//   duet::optim::SGD opt(params, 0.1);
//   duet::optim::CosineAnnealingLR sched(opt, /*T_max=*/epochs);
//   for (int e = 0; e < epochs; ++e) {
//     train_one_epoch(opt);          // uses opt.lr() == sched.get_last_lr()
//     sched.step();                  // sets the optimizer's lr for the next epoch
//   }
#pragma once

#include <cstdint>

#include "duet/optim/optimizer.h"

namespace duet::optim {

class LRScheduler {
 public:
  // Takes the optimizer's current lr as base_lr; the optimizer must outlive the scheduler.
  explicit LRScheduler(Optimizer& optimizer);
  virtual ~LRScheduler() = default;

  void step();  // last_epoch += 1; optimizer lr = lr_at(last_epoch)
  double get_last_lr() const { return last_lr_; }
  int64_t last_epoch() const { return last_epoch_; }
  double base_lr() const { return base_lr_; }
  virtual double lr_at(int64_t epoch) const = 0;

 protected:
  void apply();  // sets the optimizer's lr to lr_at(last_epoch)

  Optimizer& optimizer_;
  double base_lr_;
  int64_t last_epoch_ = 0;
  double last_lr_;
};

// lr = base_lr * gamma ^ floor(epoch / step_size)
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);
  double lr_at(int64_t epoch) const override;
  int64_t step_size;
  double gamma;
};

// lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min = 0.0);
  double lr_at(int64_t epoch) const override;
  int64_t T_max;
  double eta_min;
};

}  // namespace duet::optim
