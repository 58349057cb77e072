// ModelCheckpoint: a fit() callback that saves checkpoints (duet/train/checkpoint.h) at the
// end of epochs: "last" after every epoch and/or "best" when a monitored value improves.
//
//   auto ckpt = std::make_shared<duet::train::ModelCheckpoint>(duet::train::ModelCheckpointOptions{
//       .last = "run/last.safetensors",
//       .best = "run/best-{epoch}-{val_accuracy}.safetensors",
//       .monitor = "val_accuracy", .mode = "max", .scheduler = &sched});
//   duet::train::fit(*net, loss_fn, opt, train_loader, {.epochs = 10, .callbacks = {ckpt}});
//   ckpt->best_value();  // the best val_accuracy seen; ckpt->best_path() its file
//
// File names may hold {epoch} (epochs finished, 1-based), {step} (global step) and {NAME}
// for any value of the epoch's logs (printed %.4f). A checkpoint holds the model, optimizer,
// the training loader's position, the default generator, the schedule when given, epoch
// (epochs finished) and global step; resume with load_checkpoint and fit's initial epoch.
// weights_only saves the model's state dict alone (io::save_weights). A monitored value
// that is absent from the logs is a duet::Error naming it; NaN never improves.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "duet/random.h"
#include "duet/train/callback.h"

namespace duet::optim {
class LRScheduler;
}

namespace duet::train {

struct ModelCheckpointOptions {
  std::string last{};                 // written after every epoch ("": never)
  std::string best{};                 // written when `monitor` improves ("": never)
  std::string monitor = "val_loss";   // a log name
  std::string mode = "min";           // "min" or "max"
  optim::LRScheduler* scheduler = nullptr;  // saved too when given
  std::vector<std::pair<std::string, Generator*>> generators{};  // besides the default one
  bool weights_only = false;
  std::map<std::string, std::string> metadata{};  // added to every checkpoint
};

class ModelCheckpoint : public Callback {
 public:
  explicit ModelCheckpoint(ModelCheckpointOptions options);
  void on_epoch_end(FitState& state, const Logs& logs) override;
  bool rank_zero_only() const override { return true; }  // distributed fit: rank 0 writes

  std::optional<double> best_value() const { return best_; }
  const std::string& best_path() const { return best_path_; }  // "" before the first
  const std::string& last_path() const { return last_path_; }
  // `pattern` with {epoch}, {step} and {NAME} replaced (duet::Error for an unknown name).
  static std::string expand(const std::string& pattern, int64_t epoch, int64_t step,
                            const Logs& logs);

 private:
  void save(const std::string& path, FitState& state, const Logs& logs) const;
  ModelCheckpointOptions options_;
  std::optional<double> best_;
  std::string best_path_, last_path_;
};

}  // namespace duet::train
