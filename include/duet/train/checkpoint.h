// Checkpoints that resume exactly: the model, the optimizer's state, the LR schedule's
// position, random generators, the data loader's position, the epoch and step, in one
// safetensors file.
//
//   duet::train::save_checkpoint("ckpt.safetensors",
//                                {.model = net.get(), .optimizer = &opt, .scheduler = &sched,
//                                 .loader = &train_loader, .epoch = 1, .global_step = 469,
//                                 .metadata = {{"note", "after epoch 1"}}});
//   // later, into freshly built objects of the same configuration:
//   auto info = duet::train::load_checkpoint("ckpt.safetensors",
//                                            {.model = net.get(), .optimizer = &opt,
//                                             .scheduler = &sched, .loader = &train_loader});
//   info.epoch;                // 1: epochs finished, the epoch to continue with
//   info.metadata.at("note");  // "after epoch 1"
//
// File (docs/weights.md, "Checkpoints"): a safetensors file whose tensors are the model's
// state dict under "model.", the optimizer's state under "optimizer." ("optimizer.0.step",
// "optimizer.0.exp_avg", ...), a GradScaler's under "grad_scaler." ("grad_scaler.scale",
// "grad_scaler.growth_tracker") and each generator's state under "rng." (int64 (6): the four
// xoshiro words, the Box-Muller spare flag and the spare's bits); its __metadata__ holds
// "format" = "duet.checkpoint", "format_version" = "1", "epoch", "global_step", the
// optimizer's name and hyper-parameters ("optimizer.name", "optimizer.lr", ...), the
// schedule's ("scheduler.name", "scheduler.last_epoch", ...), the loader's position
// ("loader.seed", "loader.epoch", ...) and the user's entries under "user.". Doubles are
// written with 17 significant digits (they read back bit for bit). Written through
// io::SafeWriter: a crash leaves the previous file or the complete new one.
//
// Loading is all-or-nothing: the file is read and validated (format, version, every value's
// type and range) before anything changes; then each object loads its part with its own
// checks (Module::load_state_dict names the first mismatching key and both shapes;
// Optimizer::load_state_dict the same for its state), and if any part is refused every
// object already loaded is restored, so on error nothing has changed. A target the file has
// no part for is an error; a part of the file with no target is left unread (loading only
// the weights of a full checkpoint is fine). The default generator is saved and restored
// unless `default_generator` is false.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "duet/random.h"

namespace duet::nn {
class Module;
}
namespace duet::optim {
class Optimizer;
class LRScheduler;
}  // namespace duet::optim
namespace duet::data {
class DataLoader;
}
namespace duet::amp {
class GradScaler;
}

namespace duet::train {

inline constexpr int kCheckpointFormatVersion = 1;

// What a checkpoint holds (save) or restores into (load). Null pointers are skipped.
struct Checkpoint {
  nn::Module* model = nullptr;
  optim::Optimizer* optimizer = nullptr;
  optim::LRScheduler* scheduler = nullptr;
  data::DataLoader* loader = nullptr;
  amp::GradScaler* grad_scaler = nullptr;  // loss scaling (duet/amp.h): scale, growth tracker
  // Generators besides the default one (a Dropout's own, ...), by a name of your choice.
  std::vector<std::pair<std::string, Generator*>> generators{};
  bool default_generator = true;  // duet::default_generator(): dropout, graph-mode seeds
  // Save only (load reports them in CheckpointInfo):
  int64_t epoch = 0;        // epochs finished
  int64_t global_step = 0;  // optimizer steps done
  std::map<std::string, std::string> metadata{};  // your own strings
};

struct CheckpointInfo {
  int format_version = 0;
  int64_t epoch = 0;
  int64_t global_step = 0;
  std::map<std::string, std::string> metadata{};  // the user's entries, without "user."
};

void save_checkpoint(const std::string& path, const Checkpoint& checkpoint);
// Restores the file into the non-null targets; throws duet::Error naming the file and the
// first problem, changing nothing, when the file is not a checkpoint, is malformed or does
// not fit the targets.
CheckpointInfo load_checkpoint(const std::string& path, const Checkpoint& targets);
// Only the header: format, epoch, step and the user's metadata (validated; no tensor read).
CheckpointInfo read_checkpoint_info(const std::string& path);

}  // namespace duet::train
