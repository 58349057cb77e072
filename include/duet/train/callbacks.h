// The core fit() callbacks: EarlyStopping, LRSchedule (a scheduler stepped per epoch or per
// step, ReduceLROnPlateau fed a log value) and ProgressBar.
//
//   auto sched = std::make_shared<duet::optim::OneCycleLR>(opt, 0.01, epochs * loader.num_batches());
//   auto h = duet::train::fit(*net, duet::train::cross_entropy_loss, opt, loader,
//       {.epochs = epochs, .validation = &val,
//        .callbacks = {
//            std::make_shared<duet::train::LRSchedule>(sched, duet::train::Interval::step),
//            std::make_shared<duet::train::EarlyStopping>(
//                duet::train::EarlyStoppingOptions{.monitor = "val_loss", .patience = 3,
//                                                  .restore_best_weights = true})}});
//
// Other parts' callbacks live with their features: TensorBoard (duet/tensorboard.h),
// ProfileSteps (duet/profiler.h), ModelCheckpoint (duet/train/checkpoint.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "duet/optim/lr_scheduler.h"
#include "duet/train/callback.h"
#include "duet/train/fit.h"

namespace duet::train {

// Keras's EarlyStopping: stops fit when `monitor` has not improved by more than min_delta
// for `patience` epochs (an epoch improves when value < best - min_delta, mode "min"; value >
// best + min_delta, mode "max"; mode "auto" is "max" for names containing "acc", else
// "min"). restore_best_weights: at the end of fit (stopped or not) the model's parameters and
// buffers are set back, in place, to those of the best epoch.
struct EarlyStoppingOptions {
  std::string monitor = "val_loss";
  std::string mode = "auto";  // "min", "max" or "auto"
  int64_t patience = 0;
  double min_delta = 0.0;
  bool restore_best_weights = false;
};

class EarlyStopping : public Callback {
 public:
  explicit EarlyStopping(EarlyStoppingOptions options = {});
  void on_train_begin(FitState& state) override;
  void on_epoch_end(FitState& state, const Logs& logs) override;
  void on_train_end(FitState& state) override;

  int64_t stopped_epoch() const { return stopped_epoch_; }  // -1 when it did not stop
  int64_t best_epoch() const { return best_epoch_; }
  double best() const { return best_; }
  const EarlyStoppingOptions& options() const { return options_; }

 private:
  bool improved(double value) const;
  EarlyStoppingOptions options_;
  bool maximize_ = false;
  double best_ = 0;
  int64_t best_epoch_ = -1, stopped_epoch_ = -1, wait_ = 0;
  std::vector<std::pair<Tensor, Tensor>> best_weights_;  // (live tensor, copy)
};

enum class Interval { epoch, step };

// Steps `scheduler` after every optimizer step (Interval::step, on_batch_end) or every epoch
// (Interval::epoch, on_epoch_end). A ReduceLROnPlateau is stepped per epoch with
// logs.at(monitor). Put it before a ModelCheckpoint in the callback list, so that the saved
// schedule has taken its end-of-epoch step, as the optimizer's lr has (a resumed run then
// continues exactly).
class LRSchedule : public Callback {
 public:
  LRSchedule(std::shared_ptr<optim::LRScheduler> scheduler, Interval interval = Interval::epoch,
             std::string monitor = "val_loss");
  void on_batch_end(FitState& state, const Logs& logs) override;
  void on_epoch_end(FitState& state, const Logs& logs) override;
  optim::LRScheduler& scheduler() { return *scheduler_; }

 private:
  std::shared_ptr<optim::LRScheduler> scheduler_;
  Interval interval_;
  std::string monitor_;
};

// Prints training progress. bar: one live line per epoch, rewritten with '\r'
//   epoch 2/5  412/938 [=========>          ] loss 0.3121 - accuracy 0.8874 - 5123 img/s - ETA 7s
// ending with the epoch's logs and time; lines: one plain line per epoch (for logs and pipes)
//   epoch 2/5 - 938/938 - 11.2s - 5356 img/s - loss 0.3012 - accuracy 0.8901 - val_loss ...
// (the time includes the validation pass; images/s counts the training steps only, of every
// rank in a distributed fit)
// automatic: bar when the stream is std::cout and stdout is a terminal, lines otherwise.
// fit adds one (last in the list) unless FitOptions::progress is none.
class ProgressBar : public Callback {
 public:
  explicit ProgressBar(Progress mode = Progress::automatic, std::ostream* out = nullptr);
  void on_epoch_begin(FitState& state) override;
  void on_batch_end(FitState& state, const Logs& logs) override;
  void on_epoch_end(FitState& state, const Logs& logs) override;
  bool live() const { return live_; }  // true: the '\r' bar
  bool rank_zero_only() const override { return true; }

 private:
  std::ostream& out_;
  bool live_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  double train_seconds_ = 0;  // the epoch's steps, without the validation pass
  double loss_sum_ = 0;
  int64_t loss_count_ = 0;
};

}  // namespace duet::train
