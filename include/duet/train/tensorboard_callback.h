// duet::train::TensorBoard: a fit() callback that logs to TensorBoard event files, laid out as
// Keras does, so that training and validation curves share a chart:
//
//   auto tb = std::make_shared<duet::train::TensorBoard>("runs/exp1");
//   duet::train::fit(*net, loss_fn, opt, train_loader, {.epochs = 10, .callbacks = {tb}});
//   // $ tensorboard --logdir runs
//
//   runs/exp1/train/       "epoch_loss", "epoch_accuracy", "epoch_lr", ... (step = epoch)
//                          "batch_loss", ... every update_freq optimizer steps (step = global step)
//                          "weights/<parameter>", "gradients/<parameter>" histograms
//                          (every histogram_freq epochs, step = epoch)
//                          the model graph, when graph_input_shape is given
//   runs/exp1/validation/  "epoch_loss", "epoch_accuracy", ... from the logs' "val_" values
//
// Epochs are 0-based, as FitState::epoch. Gradients come from FitState::gradients() (in graph
// mode only when fit keeps them; undefined ones are skipped). A parameter holding NaN or
// infinity makes its histogram, and so fit, throw a duet::Error naming the parameter.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "duet/shape.h"
#include "duet/tensorboard.h"
#include "duet/train/callback.h"

namespace duet::train {

struct TensorBoardOptions {
  int64_t update_freq = 0;          // per-step scalars every N optimizer steps; 0: none
  int64_t histogram_freq = 1;       // weight/gradient histograms every N epochs; 0: none
  bool gradient_histograms = true;  // with the weight histograms
  // The model's graph (SummaryWriter::add_graph) for an input of this shape, at train begin.
  std::optional<Shape> graph_input_shape{};
};

class TensorBoard : public Callback {
 public:
  explicit TensorBoard(std::string log_dir, TensorBoardOptions options = {});

  void on_train_begin(FitState& s) override;
  void on_train_end(FitState& s) override;
  void on_batch_end(FitState& s, const Logs& logs) override;
  void on_epoch_end(FitState& s, const Logs& logs) override;
  bool rank_zero_only() const override { return true; }

  const std::string& log_dir() const { return log_dir_; }
  tensorboard::SummaryWriter& train_writer() { return *train_; }
  // Created with the first "val_" value.
  tensorboard::SummaryWriter* validation_writer() { return validation_.get(); }

 private:
  std::string log_dir_;
  TensorBoardOptions options_;
  std::unique_ptr<tensorboard::SummaryWriter> train_, validation_;
  bool graph_written_ = false;
};

}  // namespace duet::train
