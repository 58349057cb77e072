// fit() and evaluate(): the training loop, Keras / PyTorch Lightning style, eager or graph.
//
//   duet::optim::Adam opt(net->parameters(), 1e-3);
//   duet::data::DataLoader train(images, labels, 64, /*shuffle=*/true, /*seed=*/0);
//   duet::data::DataLoader test(test_images, test_labels, 1000, /*shuffle=*/false);
//   duet::train::History h = duet::train::fit(*net, duet::train::cross_entropy_loss, opt, train,
//       {.epochs = 3,
//        .mode = duet::train::Execution::graph,        // or eager (the default)
//        .validation = &test,
//        .metrics = {std::make_shared<duet::train::Accuracy>()},
//        .callbacks = {std::make_shared<duet::train::EarlyStopping>(
//            duet::train::EarlyStoppingOptions{.monitor = "val_loss", .patience = 2})},
//        .clip_grad_norm = 1.0});
//   h.values("val_accuracy");                    // one per epoch
//
// Each step: forward, loss_fn(output, target), gradients, optional clipping by global norm,
// optimizer update. Eager runs the module and the tape; graph traces the same code once into
// a compiled training step (forward, backward, clipping, update: one executable, jit-cached
// by batch shape) and an eval step, both created once per fit. Both give the same History on
// the same seed: with bit_exact = true bit for bit on the CPU (dropout included: its masks
// come from the default generator in both modes); by default within float rounding (graph
// passes such as update fusion change the order of float operations).
//
// The last partial batch (N % batch_size samples): LastBatch::keep trains on it; in graph mode
// the jit compiles that shape once, on the first epoch, and reuses it after (2 train
// compilations in all, whatever the number of epochs). LastBatch::drop skips it.
//
// Distributed (FitOptions::distributed, launched with mpirun, after duet::distributed::init()):
// every rank runs fit on the same model and optimizer. fit broadcasts rank 0's parameters and
// buffers, then averages the gradients over the ranks before each update (a GradientReducer
// over the optimizer's parameters: eager, bucket all-reduces overlap backward; graph, the
// compiled step holds all_reduce_start/all_reduce_wait nodes between gradients and clipping),
// so every rank applies the same update. Give each rank its shard of the data: the train
// loader's sampler a DistributedSampler (a DistributedSampler for another world size or rank
// is an error; no sampler on more than one rank is a warning, every rank then sees the same
// samples). Every rank must take the same number of steps per epoch (checked at the start).
// The epoch logs ("loss", the metrics, and the "val_" values, each rank validating its own
// loader's samples) are sums over the ranks (Metric::totals), so they are identical on every
// rank and callbacks such as EarlyStopping decide the same everywhere; a callback that sets
// stop_training on any rank stops every rank. Batch logs (on_batch_end) are the rank's own.
// Callbacks whose rank_zero_only() is true (the progress bar, TensorBoard, ModelCheckpoint,
// ProfileSteps) run on rank 0 only; fit ends with a barrier, so their files are complete on
// return. Resume: load the same checkpoint on every rank, same world size (the loader state
// holds the shard length, which set_state checks).
//
// Batches are moved to the device of the model's first parameter. Logs hold doubles: the
// running loss and metrics are read from the device every `log_every` steps (and on each
// epoch's last step) for on_batch_end and the progress bar; set log_every > 1 on a GPU to
// avoid a host sync per step.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <vector>

#include "duet/amp.h"
#include "duet/distributed/ddp.h"
#include "duet/train/callback.h"
#include "duet/train/metrics.h"

namespace duet::train {

enum class Execution { eager, graph };
enum class LastBatch { keep, drop };
// auto: a live bar when stdout is a terminal, plain lines otherwise (see ProgressBar).
enum class Progress { automatic, bar, lines, none };

// (model output, batch target) -> a one-element loss tensor.
using LossFn = std::function<Tensor(const Tensor& output, const Tensor& target)>;

// duet::cross_entropy(logits, labels) as a LossFn.
Tensor cross_entropy_loss(const Tensor& logits, const Tensor& labels);

struct FitOptions {
  int64_t epochs = 1;         // epochs run: initial_epoch .. epochs - 1
  int64_t initial_epoch = 0;  // resuming: the first epoch to run (the loader starts there)
  Execution mode = Execution::eager;
  data::DataLoader* validation = nullptr;  // evaluated after each epoch ("val_" logs)
  std::vector<std::shared_ptr<Metric>> metrics{};  // the loss is always tracked ("loss")
  CallbackList callbacks{};
  std::optional<double> clip_grad_norm{};  // clip the gradients to this global L2 norm
  // FitState::gradients returns the last step's (clipped) gradients; graph mode then makes
  // them outputs of the compiled step (kept in memory until the next step).
  bool keep_gradients = false;
  LastBatch last_batch = LastBatch::keep;
  bool bit_exact = false;   // graph: CompileOptions::bit_exact
  bool cuda_graph = true;   // graph on CUDA: CompileOptions::cuda_graph
  Progress progress = Progress::automatic;
  std::ostream* progress_stream = nullptr;  // nullptr: std::cout
  int64_t log_every = 1;                    // batch logs every N steps (see above)
  // Data-parallel training over the process group (duet::distributed::init() first; see
  // "Distributed" above and docs/distributed.md). `ddp`: bucket size and overlap.
  bool distributed = false;
  distributed::DDPOptions ddp{};
  // Mixed precision (duet/amp.h): the forward pass and the loss run under
  // duet::autocast(*autocast) (eager) or CompileOptions::autocast (graph); parameters and the
  // optimizer update stay float32. grad_scaler (float16): loss scaling, step skipped on
  // inf/NaN gradients (FitState and the logs say so: "skipped_steps").
  std::optional<DType> autocast{};
  amp::GradScaler* grad_scaler = nullptr;
};

struct EvaluateOptions {
  Execution mode = Execution::eager;
  std::vector<std::shared_ptr<Metric>> metrics{};
  bool bit_exact = false;
  bool cuda_graph = true;
  std::optional<DType> autocast{};  // as FitOptions::autocast
  // Each rank evaluates its loader; the results are summed over the ranks (as fit's "val_").
  bool distributed = false;
};

History fit(nn::Module& model, const LossFn& loss_fn, optim::Optimizer& optimizer,
            data::DataLoader& train, const FitOptions& options = {});

// One pass over `loader` in eval mode without a tape: "loss" (mean over samples) and each
// metric. Graph mode compiles an eval step for this call (fit compiles one per fit).
Logs evaluate(nn::Module& model, const LossFn& loss_fn, data::DataLoader& loader,
              const EvaluateOptions& options = {});

// Gradient clipping by global L2 norm (PyTorch's clip_grad_norm_): total = sqrt(sum of every
// gradient's squares); when total > max_norm each gradient is scaled by
// max_norm / (total + 1e-6). Returns the scaled gradients (undefined ones stay undefined);
// works on concrete and on symbolic (graph) gradients, without reading a value on the host.
// `total_norm`, when given, receives the norm (float32 scalar tensor).
std::vector<Tensor> clip_grad_norm(const std::vector<Tensor>& grads, double max_norm,
                                   Tensor* total_norm = nullptr);

}  // namespace duet::train
