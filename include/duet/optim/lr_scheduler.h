// Learning-rate schedules (PyTorch's formulas), stepped once per epoch or once per optimizer
// step: a schedule only counts step() calls, so "epoch" below means whatever unit you step it
// in (duet::train::LRSchedule steps it per epoch or per batch).
//
//   duet::optim::SGD opt(params, 0.1);
//   duet::optim::CosineAnnealingLR sched(opt, /*T_max=*/epochs);
//   for (int e = 0; e < epochs; ++e) {
//     train_one_epoch(opt);          // uses opt.lr() == sched.get_last_lr()
//     sched.step();                  // sets the optimizer's lr for the next epoch
//   }
//
//   duet::optim::OneCycleLR one(opt, /*max_lr=*/0.01, /*total_steps=*/epochs * batches);
//   ... one.step() after every optimizer step ...
//
//   duet::optim::ReduceLROnPlateau plateau(opt, {.mode = "min", .patience = 2});
//   plateau.step(val_loss);          // once per epoch, with the monitored value
//
// A schedule's position is state_dict() (named doubles: "last_epoch", "base_lr", "last_lr",
// plus ReduceLROnPlateau's "best", "num_bad_epochs", "cooldown_counter"); load_state_dict()
// restores it into a schedule built with the same arguments and sets the optimizer's lr to
// the restored "last_lr", so a resumed run continues exactly.
//
// Every schedule writes the optimizer's lr tensor (Optimizer::set_lr), which compiled graphs
// read at run time: changing the lr never recompiles.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "duet/optim/optimizer.h"

namespace duet::optim {

using SchedulerState = std::vector<std::pair<std::string, double>>;

class LRScheduler {
 public:
  // Takes the optimizer's current lr as base_lr; the optimizer must outlive the scheduler.
  explicit LRScheduler(Optimizer& optimizer);
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  virtual void step();  // last_epoch += 1; optimizer lr = lr_at(last_epoch)
  double get_last_lr() const { return last_lr_; }
  int64_t last_epoch() const { return last_epoch_; }
  double base_lr() const { return base_lr_; }
  virtual double lr_at(int64_t epoch) const = 0;
  Optimizer& optimizer() const { return optimizer_; }
  virtual std::string name() const = 0;

  // The schedule's position as named values (see the header comment).
  virtual SchedulerState state_dict() const;
  // Restores state_dict(); a missing, unexpected or malformed key is a duet::Error naming it.
  // Sets the optimizer's lr to the restored last_lr.
  virtual void load_state_dict(const SchedulerState& state);

 protected:
  void apply();  // sets the optimizer's lr to lr_at(last_epoch)
  // Reads `key` from `state` (duet::Error naming this schedule and the key when absent).
  double state_value(const SchedulerState& state, const std::string& key) const;
  // Throws when `state` holds a key outside `keys` or the same key twice.
  void check_state_keys(const SchedulerState& state, const std::vector<std::string>& keys) const;

  Optimizer& optimizer_;
  double base_lr_;
  int64_t last_epoch_ = 0;
  double last_lr_;

  friend class SequentialLR;  // gives its schedules one base_lr
};

// lr = base_lr * gamma ^ floor(epoch / step_size)
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);
  double lr_at(int64_t epoch) const override;
  std::string name() const override { return "StepLR"; }
  int64_t step_size;
  double gamma;
};

// lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min = 0.0);
  double lr_at(int64_t epoch) const override;
  std::string name() const override { return "CosineAnnealingLR"; }
  int64_t T_max;
  double eta_min;
};

// PyTorch's LinearLR: the factor goes linearly from start_factor to end_factor over
// total_iters steps, then stays at end_factor:
//   lr = base_lr * (start + (end - start) * min(epoch, total_iters) / total_iters)
// LinearWarmup(opt, n, start_factor) is LinearLR(opt, start_factor, 1.0, n): it ramps from
// start_factor * base_lr to base_lr over n steps, then stays at base_lr.
class LinearLR : public LRScheduler {
 public:
  LinearLR(Optimizer& optimizer, double start_factor = 1.0 / 3.0, double end_factor = 1.0,
           int64_t total_iters = 5);
  double lr_at(int64_t epoch) const override;
  std::string name() const override { return "LinearLR"; }
  double start_factor, end_factor;
  int64_t total_iters;
};

class LinearWarmup : public LinearLR {
 public:
  LinearWarmup(Optimizer& optimizer, int64_t warmup_steps, double start_factor = 0.01)
      : LinearLR(optimizer, start_factor, 1.0, warmup_steps) {}
  std::string name() const override { return "LinearWarmup"; }
};

// PyTorch's SequentialLR: schedules[0] until milestones[0], then schedules[1] counted from 0,
// and so on. All schedules share the base_lr the optimizer had when the first was built, so
// warmup then cosine is:
//   auto warm = std::make_shared<LinearWarmup>(opt, 500);
//   auto cos = std::make_shared<CosineAnnealingLR>(opt, total - 500);
//   SequentialLR sched(opt, {warm, cos}, {500});
class SequentialLR : public LRScheduler {
 public:
  SequentialLR(Optimizer& optimizer, std::vector<std::shared_ptr<LRScheduler>> schedulers,
               std::vector<int64_t> milestones);
  double lr_at(int64_t epoch) const override;
  std::string name() const override { return "SequentialLR"; }

 private:
  std::vector<std::shared_ptr<LRScheduler>> schedulers_;
  std::vector<int64_t> milestones_;
};

// PyTorch's OneCycleLR (anneal_strategy "cos" or "linear", two or three phases), stepped once
// per optimizer step, total_steps steps in all (stepping past total_steps is an error, as in
// PyTorch). The lr starts at max_lr / div_factor, rises to max_lr over pct_start of the steps
// and anneals to max_lr / div_factor / final_div_factor. The optimizer's lr is ignored.
// Momentum is not cycled (PyTorch's cycle_momentum=False).
struct OneCycleOptions {
  double pct_start = 0.3;
  std::string anneal_strategy = "cos";  // or "linear"
  double div_factor = 25.0;
  double final_div_factor = 1e4;
  bool three_phase = false;
};

class OneCycleLR : public LRScheduler {
 public:
  OneCycleLR(Optimizer& optimizer, double max_lr, int64_t total_steps,
             OneCycleOptions options = {});
  double lr_at(int64_t epoch) const override;
  void step() override;
  std::string name() const override { return "OneCycleLR"; }
  double max_lr;
  int64_t total_steps;
  OneCycleOptions options;

 private:
  struct Phase {
    double end_step, start_lr, end_lr;
  };
  std::vector<Phase> phases_;
};

// PyTorch's ReduceLROnPlateau: step(metric) once per epoch; when the metric has not improved
// (mode "min": below best * (1 - threshold) for threshold_mode "rel", best - threshold for
// "abs"; mode "max" mirrored) for more than `patience` epochs, lr = max(lr * factor, min_lr)
// (skipped when the change is below eps), then `cooldown` epochs without counting. It reduces
// whatever lr the optimizer has.
struct PlateauOptions {
  std::string mode = "min";  // or "max"
  double factor = 0.1;
  int64_t patience = 10;
  double threshold = 1e-4;
  std::string threshold_mode = "rel";  // or "abs"
  int64_t cooldown = 0;
  double min_lr = 0.0;
  double eps = 1e-8;
};

class ReduceLROnPlateau : public LRScheduler {
 public:
  explicit ReduceLROnPlateau(Optimizer& optimizer, PlateauOptions options = {});
  void step(double metric);
  void step() override;  // a duet::Error: the schedule needs the monitored value
  double lr_at(int64_t epoch) const override;  // the current lr (not a closed form)
  std::string name() const override { return "ReduceLROnPlateau"; }
  SchedulerState state_dict() const override;
  void load_state_dict(const SchedulerState& state) override;

  double best() const { return best_; }
  int64_t num_bad_epochs() const { return num_bad_epochs_; }
  int64_t cooldown_counter() const { return cooldown_counter_; }
  bool is_better(double a, double best) const;
  PlateauOptions options;

 private:
  double best_;
  int64_t num_bad_epochs_ = 0;
  int64_t cooldown_counter_ = 0;
};

}  // namespace duet::optim
