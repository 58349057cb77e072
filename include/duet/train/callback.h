// duet::train callbacks: hooks that fit() calls around training, epochs and batches, and the
// state they see (FitState), the named values of a batch or epoch (Logs) and the History fit
// returns.
//
//   struct PrintLr : duet::train::Callback {
//     void on_epoch_end(duet::train::FitState& s, const duet::train::Logs& logs) override {
//       std::cout << "epoch " << s.epoch << " lr " << logs.at("lr") << "\n";
//       if (logs.at("val_accuracy") > 0.99) s.stop_training = true;  // ends after this epoch
//     }
//   };
//   auto history = duet::train::fit(*net, loss_fn, opt, train_loader,
//                                   {.epochs = 10, .callbacks = {std::make_shared<PrintLr>()}});
//   history.values("val_loss");  // one per epoch
//
// Callbacks run in the order given, on the thread that called fit. An exception thrown by a
// callback ends fit and reaches its caller.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "duet/tensor.h"

namespace duet::nn {
class Module;
}
namespace duet::optim {
class Optimizer;
}
namespace duet::data {
class DataLoader;
}
namespace duet::amp {
class GradScaler;
}

namespace duet::train {

// Named values in insertion order: "loss", "accuracy", "lr", "val_loss", "val_accuracy", ...
// (validation values carry the "val_" prefix).
class Logs {
 public:
  void set(const std::string& name, double value);  // replaces an existing value
  bool contains(const std::string& name) const;
  std::optional<double> get(const std::string& name) const;
  // Throws duet::Error naming the key and the keys present when it is absent.
  double at(const std::string& name) const;
  const std::vector<std::pair<std::string, double>>& items() const { return items_; }
  bool empty() const { return items_.empty(); }
  std::string str() const;  // "loss 0.3124 - accuracy 0.8871 - lr 0.001"

 private:
  std::vector<std::pair<std::string, double>> items_;
};

// What fit returns: the logs of every finished epoch (a resumed fit starts at its
// initial epoch, so epochs[0] is that epoch's).
struct History {
  std::vector<Logs> epochs{};
  // The value of `name` in each epoch; throws duet::Error naming the key and the first epoch
  // that lacks it.
  std::vector<double> values(const std::string& name) const;
};

// The running fit, as callbacks see it. Callbacks may change the optimizer's lr, set
// stop_training, and read or write the model's parameters between steps.
struct FitState {
  nn::Module* model = nullptr;
  optim::Optimizer* optimizer = nullptr;
  amp::GradScaler* grad_scaler = nullptr;    // FitOptions::grad_scaler (checkpoints save it)
  data::DataLoader* train_loader = nullptr;  // for checkpoints (its shuffle position)
  int64_t epochs = 0;           // fit's epoch count: epochs run from initial_epoch to epochs - 1
  int64_t epoch = 0;            // the current epoch, 0-based
  int64_t batch = 0;            // the current batch within the epoch, 0-based
  int64_t steps_per_epoch = 0;  // optimizer steps per epoch
  int64_t global_step = 0;      // optimizer steps done so far, resumed ones included
  int64_t samples_seen = 0;     // samples trained on in the current epoch so far (this rank's)
  int64_t world_size = 1;       // distributed fit: the ranks training together (1 otherwise)
  bool stop_training = false;   // set it to end fit after the current epoch
  History* history = nullptr;   // the epochs finished so far
  // The gradients of the last optimizer step, one per optimizer parameter (undefined where a
  // parameter got none). Eager: the parameters' .grad(). Graph: the compiled step's gradient
  // outputs, when fit was asked to keep them (FitOptions); otherwise all undefined.
  std::function<std::vector<Tensor>()> gradients;
};

class Callback {
 public:
  virtual ~Callback() = default;
  virtual void on_train_begin(FitState&) {}
  virtual void on_train_end(FitState&) {}
  virtual void on_epoch_begin(FitState&) {}
  // `logs`: the epoch's training metrics, the validation metrics ("val_" prefix) when fit has
  // a validation loader, and "lr" (the lr the epoch's last step used).
  virtual void on_epoch_end(FitState&, const Logs& /*logs*/) {}
  virtual void on_batch_begin(FitState&) {}
  // `logs`: "loss" of this batch, "lr" it used, and each metric's running value this epoch.
  virtual void on_batch_end(FitState&, const Logs& /*logs*/) {}
  // Distributed fit (FitOptions::distributed): true runs this callback on rank 0 only. The
  // ones that print or write files say true (ProgressBar, TensorBoard, ModelCheckpoint,
  // ProfileSteps); the others (EarlyStopping, LRSchedule, yours) run on every rank and see
  // the same epoch logs there, so they decide the same everywhere.
  virtual bool rank_zero_only() const { return false; }
};

using CallbackList = std::vector<std::shared_ptr<Callback>>;

}  // namespace duet::train
