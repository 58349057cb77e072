#include "duet/train/tensorboard_callback.h"

#include <map>
#include <utility>

#include "duet/error.h"
#include "duet/nn/module.h"
#include "duet/optim/optimizer.h"

namespace duet::train {

TensorBoard::TensorBoard(std::string log_dir, TensorBoardOptions options)
    : log_dir_(std::move(log_dir)), options_(std::move(options)) {
  DUET_CHECK(options_.update_freq >= 0 && options_.histogram_freq >= 0, "TensorBoard('", log_dir_,
             "'): update_freq ", options_.update_freq, ", histogram_freq ", options_.histogram_freq,
             ": expected >= 0");
  train_ = std::make_unique<tensorboard::SummaryWriter>(log_dir_ + "/train");
}

void TensorBoard::on_train_begin(FitState& s) {
  if (options_.graph_input_shape && !graph_written_ && s.model != nullptr) {
    train_->add_graph(*s.model, *options_.graph_input_shape);
    graph_written_ = true;
  }
  train_->flush();
}

void TensorBoard::on_train_end(FitState&) {
  train_->flush();
  if (validation_) validation_->flush();
}

void TensorBoard::on_batch_end(FitState& s, const Logs& logs) {
  if (options_.update_freq <= 0 || s.global_step % options_.update_freq != 0) return;
  for (const auto& [name, value] : logs.items())
    train_->add_scalar("batch_" + name, value, s.global_step);
}

void TensorBoard::on_epoch_end(FitState& s, const Logs& logs) {
  for (const auto& [name, value] : logs.items()) {
    if (name.rfind("val_", 0) == 0) {
      if (!validation_)
        validation_ = std::make_unique<tensorboard::SummaryWriter>(log_dir_ + "/validation");
      validation_->add_scalar("epoch_" + name.substr(4), value, s.epoch);
    } else {
      train_->add_scalar("epoch_" + name, value, s.epoch);
    }
  }
  if (options_.histogram_freq > 0 && (s.epoch + 1) % options_.histogram_freq == 0 &&
      s.model != nullptr) {
    std::map<const void*, std::string> names;  // parameter storage -> its state_dict name
    for (const auto& [name, p] : s.model->named_parameters()) {
      if (!p.defined()) continue;
      names.emplace(p.data_ptr(), name);
      train_->add_histogram("weights/" + name, p, s.epoch);
    }
    if (options_.gradient_histograms && s.optimizer != nullptr && s.gradients) {
      std::vector<Tensor> grads = s.gradients();
      const auto& params = s.optimizer->params();
      for (size_t i = 0; i < grads.size() && i < params.size(); ++i) {
        if (!grads[i].defined()) continue;
        auto it = names.find(params[i].data_ptr());
        std::string name = it != names.end() ? it->second : "param" + std::to_string(i);
        train_->add_histogram("gradients/" + name, grads[i], s.epoch);
      }
    }
  }
  train_->flush();
  if (validation_) validation_->flush();
}

}  // namespace duet::train
