// fit() and evaluate(): the epoch/batch loop, eager and compiled (jit) steps, metrics, logs.
#include "duet/train/fit.h"

#include <cmath>
#include <iostream>
#include <limits>
#include <optional>
#include <tuple>

#include "duet/amp.h"
#include "duet/autograd.h"
#include "duet/data/dataloader.h"
#include "duet/distributed.h"
#include "duet/graph.h"
#include "duet/jit.h"
#include "duet/nn/module.h"
#include "duet/ops.h"
#include "duet/optim/optimizer.h"
#include "duet/train/callbacks.h"

namespace duet::train {

Tensor cross_entropy_loss(const Tensor& logits, const Tensor& labels) {
  return cross_entropy(logits, labels);
}

std::vector<Tensor> clip_grad_norm(const std::vector<Tensor>& grads, double max_norm,
                                   Tensor* total_norm) {
  DUET_CHECK(std::isfinite(max_norm) && max_norm > 0, "clip_grad_norm: max_norm = ", max_norm,
             " (expected a positive finite number)");
  Tensor squares;  // sum over every gradient of its squared elements, in parameter order
  for (const Tensor& g : grads) {
    if (!g.defined()) continue;
    Tensor s = sum(mul(g, g));
    squares = squares.defined() ? add(squares, s) : s;
  }
  if (!squares.defined()) {
    if (total_norm) *total_norm = Tensor();
    return grads;
  }
  Tensor norm = sqrt(squares);
  if (total_norm) *total_norm = norm;
  // PyTorch: clip_coef = max_norm / (total + 1e-6), clamped to at most 1, always applied.
  Tensor coef = clamp(rdiv(add(norm, 1e-6), max_norm), 0.0, 1.0);
  std::vector<Tensor> out;
  out.reserve(grads.size());
  for (const Tensor& g : grads)
    out.push_back(g.defined() ? mul(g, coef.to(g.dtype())) : Tensor());
  return out;
}

namespace {

Device model_device(nn::Module& model) {
  const std::vector<Tensor> ps = model.parameters();
  return ps.empty() ? cpu : ps[0].device();
}

// Sums `sums` (in place) and every metric's totals over the ranks in one all-reduce, gives
// each metric its global totals (set_totals) and returns each metric's global value; a metric
// without totals gets the mean of compute() over the ranks. Without `distributed`, the local
// values. Every rank must call it with the same metrics, in the same order.
std::vector<double> global_metric_values(const std::vector<std::shared_ptr<Metric>>& metrics,
                                         std::vector<double>& sums, bool distributed) {
  std::vector<double> values;
  if (!distributed) {
    for (auto& m : metrics) values.push_back(m->compute());
    return values;
  }
  std::vector<double> packed = sums;
  std::vector<std::vector<double>> totals;
  for (auto& m : metrics) {
    totals.push_back(m->totals());
    if (totals.back().empty()) packed.push_back(m->compute());
    else packed.insert(packed.end(), totals.back().begin(), totals.back().end());
  }
  if (packed.empty()) return values;
  Tensor t = Tensor::from_vector(packed, {static_cast<int64_t>(packed.size())}, float64);
  distributed::all_reduce(t, distributed::ReduceOp::sum);
  packed = t.to_vector<double>();
  size_t at = 0;
  for (double& s : sums) s = packed[at++];
  const double world = static_cast<double>(distributed::world_size());
  for (size_t i = 0; i < metrics.size(); ++i) {
    if (totals[i].empty()) {
      values.push_back(packed[at++] / world);
      continue;
    }
    std::vector<double> global(packed.begin() + static_cast<std::ptrdiff_t>(at),
                               packed.begin() + static_cast<std::ptrdiff_t>(at + totals[i].size()));
    at += totals[i].size();
    metrics[i]->set_totals(global);
    values.push_back(metrics[i]->compute());
  }
  return values;
}

// The eval step of fit/evaluate: eager module calls or one compiled (jit-cached) graph.
class Evaluator {
 public:
  Evaluator(nn::Module& model, const LossFn& loss_fn, Execution mode, bool bit_exact,
            bool cuda_graph, bool distributed = false, std::optional<DType> autocast = {})
      : model_(model), loss_fn_(loss_fn), distributed_(distributed), autocast_(autocast) {
    if (mode == Execution::graph)
      step_ = std::make_unique<JitFunction>(
          [this](const std::vector<Tensor>& in) {
            Tensor out = model_(in[0]);
            return std::vector<Tensor>{loss_fn_(out, in[1]), out};
          },
          CompileOptions{.training = false,
                         .bit_exact = bit_exact,
                         .cuda_graph = cuda_graph,
                         .autocast = autocast},
          "eval_step");
  }

  // "loss" and each metric over `loader` (one pass), in eval mode, without a tape.
  Logs run(data::DataLoader& loader, const std::vector<std::shared_ptr<Metric>>& metrics) {
    NoGradGuard no_grad;
    const bool was_training = model_.is_training();
    model_.eval();
    const Device device = model_device(model_);
    Mean loss_mean("loss");
    for (auto& m : metrics) m->reset();
    for (auto& batch : loader) {
      Tensor x = batch.x.to(device), y = batch.y.to(device);
      Tensor loss, out;
      if (step_) {
        std::vector<Tensor> r = (*step_)({x, y});
        loss = r[0];
        out = r[1];
      } else {
        std::optional<AutocastGuard> scope;  // EvaluateOptions::autocast
        if (autocast_) scope.emplace(*autocast_);
        out = model_(x);
        loss = loss_fn_(out, y);
      }
      loss_mean.update(loss, y);
      for (auto& m : metrics) m->update(out, y);
    }
    model_.train(was_training);
    // Distributed: the loss and metrics over every rank's samples.
    std::vector<std::shared_ptr<Metric>> all{std::shared_ptr<Metric>(&loss_mean, [](Metric*) {})};
    all.insert(all.end(), metrics.begin(), metrics.end());
    std::vector<double> no_sums;
    std::vector<double> values = global_metric_values(all, no_sums, distributed_);
    Logs logs;
    for (size_t i = 0; i < all.size(); ++i) logs.set(all[i]->name(), values[i]);
    return logs;
  }

 private:
  nn::Module& model_;
  const LossFn& loss_fn_;
  bool distributed_;
  std::optional<DType> autocast_;
  std::unique_ptr<JitFunction> step_;
};

// One optimizer step: eager (module + tape) or a compiled training step that does forward,
// backward, clipping and the update in one executable.
class Stepper {
 public:
  struct Result {
    Tensor loss, output;
  };

  // reducer: distributed fit's gradient averaging (null otherwise).
  Stepper(nn::Module& model, const LossFn& loss_fn, optim::Optimizer& opt,
          const FitOptions& options, bool want_output, distributed::GradientReducer* reducer)
      : model_(model), loss_fn_(loss_fn), opt_(opt), options_(options),
        want_output_(want_output), reducer_(reducer) {
    if (options.mode != Execution::graph) return;
    step_ = std::make_unique<JitFunction>(
        [this](const std::vector<Tensor>& in) {
          Tensor out = model_(in[0]);
          Tensor loss = loss_fn_(out, in[1]);
          DUET_CHECK(loss.numel() == 1, "fit: the loss function returned shape ",
                     shape_str(loss.shape()), " (expected one element)");
          amp::GradScaler* scaler = active_scaler();
          std::vector<Tensor> grads =
              duet::gradients(scaler ? scaler->scale(loss) : loss, opt_.params());
          // averaged over the ranks: per bucket, start/wait nodes the scheduler places
          if (reducer_) grads = reducer_->all_reduce_gradients(grads);
          Tensor found_inf;  // FitOptions::grad_scaler: unscaled, then the update gated on it
          if (scaler) std::tie(found_inf, grads) = scaler->unscale_gradients(grads);
          if (options_.clip_grad_norm) grads = clip_grad_norm(grads, *options_.clip_grad_norm);
          if (scaler) {
            opt_.apply_gradients_unless_inf(grads, found_inf);
            scaler->update(found_inf);
          } else {
            opt_.apply_gradients(grads);
          }
          std::vector<Tensor> outs{loss};
          if (want_output_) outs.push_back(out);
          kept_.assign(grads.size(), false);
          if (options_.keep_gradients)
            for (size_t i = 0; i < grads.size(); ++i)
              if (grads[i].defined()) {
                outs.push_back(grads[i]);
                kept_[i] = true;
              }
          return outs;
        },
        CompileOptions{.training = true,
                       .bit_exact = options.bit_exact,
                       .cuda_graph = options.cuda_graph,
                       .autocast = options.autocast},
        "train_step");
  }

  Result step(const Tensor& x, const Tensor& y) {
    if (step_) {
      std::vector<Tensor> r = (*step_)({x, y});
      Result res{r[0], want_output_ ? r[1] : Tensor()};
      if (options_.keep_gradients) {
        size_t at = want_output_ ? 2 : 1;
        grads_.assign(kept_.size(), Tensor());
        for (size_t i = 0; i < kept_.size(); ++i)
          if (kept_[i]) grads_[i] = r[at++].clone();  // outputs live until the next run
      }
      return res;
    }
    opt_.zero_grad();
    if (reducer_) reducer_->prepare_for_backward();  // bucket all-reduces during backward
    Tensor out, loss;
    {
      std::optional<AutocastGuard> scope;  // FitOptions::autocast: forward and loss only
      if (options_.autocast) scope.emplace(*options_.autocast);
      out = model_(x);
      loss = loss_fn_(out, y);
    }
    DUET_CHECK(loss.numel() == 1, "fit: the loss function returned shape ",
               shape_str(loss.shape()), " (expected one element)");
    amp::GradScaler* scaler = active_scaler();
    (scaler ? scaler->scale(loss) : loss).backward();
    if (reducer_) reducer_->finish();  // every .grad averaged (a no-op if backward's end did it)
    if (scaler) {
      scaled_step(*scaler);
    } else if (options_.clip_grad_norm) {
      std::vector<Tensor> grads;
      grads.reserve(opt_.params().size());
      for (const Tensor& p : opt_.params()) grads.push_back(p.grad());
      NoGradGuard no_grad;
      grads_ = clip_grad_norm(grads, *options_.clip_grad_norm);
      opt_.apply_gradients(grads_);
    } else {
      opt_.step();
    }
    return {loss, out};
  }

  size_t num_compiles() const { return step_ ? step_->num_compiles() : 0; }

  // FitOptions::grad_scaler when enabled, else null.
  amp::GradScaler* active_scaler() const {
    amp::GradScaler* s = options_.grad_scaler;
    return s && s->enabled() ? s : nullptr;
  }

  // Eager step with loss scaling (the .grad()s are of scale * loss): unscale (the unscaled
  // gradients become the .grad()s), clip, the update gated on the device, the scale's update.
  void scaled_step(amp::GradScaler& scaler) {
    std::vector<Tensor> grads;
    for (const Tensor& p : opt_.params()) grads.push_back(p.grad());
    NoGradGuard no_grad;
    auto [found_inf, unscaled] = scaler.unscale_gradients(grads);
    for (size_t i = 0; i < unscaled.size(); ++i)
      if (unscaled[i].defined()) opt_.params()[i].set_grad(unscaled[i]);
    if (options_.clip_grad_norm) {
      grads_ = clip_grad_norm(unscaled, *options_.clip_grad_norm);
      unscaled = grads_;
    }
    if (opt_.skips_on_device())
      opt_.apply_gradients_unless_inf(unscaled, found_inf);
    else if (found_inf.item<float>() == 0.0f)  // an optimizer without the gate: a host read
      opt_.apply_gradients(unscaled);
    scaler.update(found_inf);
  }

  // The last step's gradients (see FitState::gradients).
  std::vector<Tensor> gradients() const {
    if (options_.mode == Execution::graph || options_.clip_grad_norm) {
      if (!grads_.empty()) return grads_;
      return std::vector<Tensor>(opt_.params().size());
    }
    std::vector<Tensor> g;
    for (const Tensor& p : opt_.params()) g.push_back(p.grad());
    return g;
  }

 private:
  nn::Module& model_;
  const LossFn& loss_fn_;
  optim::Optimizer& opt_;
  const FitOptions& options_;
  bool want_output_;
  distributed::GradientReducer* reducer_;
  std::unique_ptr<JitFunction> step_;
  std::vector<bool> kept_;    // graph: which gradients are outputs of the step
  std::vector<Tensor> grads_;
};

// The epoch's loss, weighted by batch size. A step whose loss is read on the host anyway (a
// logged step) adds it there; the others add on the device (no host sync). Both add
// double(loss) * batch; the two partial sums meet in mean(). Eager and graph log the same
// steps, so they sum in the same order.
class LossTracker {
 public:
  void reset() {
    host_ = 0;
    device_ = Tensor();
    count_ = 0;
  }
  void add_host(double loss, int64_t n) {
    host_ += loss * static_cast<double>(n);
    count_ += n;
  }
  void add_device(const Tensor& loss, int64_t n) {
    NoGradGuard no_grad;
    Tensor v = mul(loss.reshape({}).to(float64), static_cast<double>(n));
    device_ = device_.defined() ? add(device_, v) : v;
    count_ += n;
  }
  double total() const { return device_.defined() ? host_ + device_.item<double>() : host_; }
  double count() const { return static_cast<double>(count_); }

 private:
  double host_ = 0;
  Tensor device_;
  int64_t count_ = 0;
};

// Distributed fit's checks before anything is broadcast: a process group, a train loader
// sharded for this rank, and the same number of steps per epoch on every rank.
void check_distributed(const data::DataLoader& train, int64_t steps_per_epoch) {
  DUET_CHECK(distributed::is_initialized(),
             "fit: distributed = true but there is no process group (expected "
             "duet::distributed::init() first, in a program launched by mpirun or with "
             "RANK/WORLD_SIZE set)");
  const int world = distributed::world_size(), rank = distributed::rank();
  const auto* sampler =
      dynamic_cast<const data::DistributedSampler*>(train.options().sampler.get());
  // Found before the collective, thrown after it: every rank fails, none waits for the others.
  std::string problem;
  if (sampler && (sampler->num_replicas() != world || sampler->rank() != rank))
    problem = detail::cat("fit: the train loader's DistributedSampler is for rank ",
                          sampler->rank(), " of ", sampler->num_replicas(),
                          " but this process is rank ", rank, " of ", world,
                          " (expected DistributedSampler::for_current_process)");
  if (!train.options().sampler && world > 1 && rank == 0)
    std::cerr << "duet: fit(distributed): the train loader has no sampler, so each of the "
              << world << " ranks trains on the whole dataset; give it a DistributedSampler "
              << "(duet::data::DistributedSampler::for_current_process) to shard it\n";
  // max over the ranks of (steps, -steps, problem): the largest and minus the smallest step
  // count, and whether any rank found a problem.
  Tensor t = Tensor::from_vector(
      std::vector<int64_t>{steps_per_epoch, -steps_per_epoch, problem.empty() ? 0 : 1}, {3});
  distributed::all_reduce(t, distributed::ReduceOp::max);
  const std::vector<int64_t> v = t.to_vector<int64_t>();
  if (!problem.empty()) throw Error(problem);
  DUET_CHECK(v[2] == 0, "fit: rank ", rank, ": another rank's train loader has a "
             "DistributedSampler for another rank or world size (its error says which)");
  DUET_CHECK(v[0] == -v[1], "fit: rank ", rank, " has ", steps_per_epoch,
             " steps per epoch but the ranks have between ", -v[1], " and ", v[0],
             " (expected the same on every rank: shard the data with a DistributedSampler)");
}

}  // namespace

History fit(nn::Module& model, const LossFn& loss_fn, optim::Optimizer& optimizer,
            data::DataLoader& train, const FitOptions& options) {
  DUET_CHECK(options.epochs >= 0 && options.initial_epoch >= 0 &&
                 options.initial_epoch <= options.epochs,
             "fit: initial_epoch = ", options.initial_epoch, ", epochs = ", options.epochs,
             " (expected 0 <= initial_epoch <= epochs)");
  DUET_CHECK(options.log_every >= 1, "fit: log_every = ", options.log_every, " (expected >= 1)");
  DUET_CHECK(loss_fn != nullptr, "fit: no loss function");
  for (size_t i = 0; i < options.metrics.size(); ++i)
    DUET_CHECK(options.metrics[i] != nullptr, "fit: metric ", i, " is null");

  const bool dist = options.distributed;
  // Rank 0 runs every callback; the other ranks skip the rank_zero_only() ones.
  const bool rank_zero = !dist || distributed::rank() == 0;
  CallbackList callbacks;
  for (size_t i = 0; i < options.callbacks.size(); ++i) {
    DUET_CHECK(options.callbacks[i] != nullptr, "fit: callback ", i, " is null");
    if (rank_zero || !options.callbacks[i]->rank_zero_only())
      callbacks.push_back(options.callbacks[i]);
  }
  if (options.progress != Progress::none && rank_zero)
    callbacks.push_back(std::make_shared<ProgressBar>(options.progress, options.progress_stream));

  const Device device = model_device(model);
  const bool drop_last = options.last_batch == LastBatch::drop;
  const int64_t full_batches = train.num_samples() / train.batch_size();
  const int64_t steps_per_epoch = drop_last ? full_batches : train.num_batches();

  // Distributed: every rank starts from rank 0's parameters and buffers; the reducer
  // averages the optimizer's gradients over the ranks (its constructor checks that every
  // rank has the same parameter list).
  std::unique_ptr<distributed::GradientReducer> reducer;
  if (dist) {
    check_distributed(train, steps_per_epoch);
    distributed::broadcast_module(model, 0, options.ddp.broadcast_buffers);
    reducer = std::make_unique<distributed::GradientReducer>(optimizer.params(), options.ddp);
  }

  amp::GradScaler* scaler =
      options.grad_scaler && options.grad_scaler->enabled() ? options.grad_scaler : nullptr;
  DUET_CHECK(!scaler || options.mode != Execution::graph || optimizer.skips_on_device(),
             "fit: FitOptions::grad_scaler in graph mode needs an optimizer that skips its update "
             "on the device (SGD, Adam, AdamW); ", optimizer.name(), " does not");
  Stepper stepper(model, loss_fn, optimizer, options, !options.metrics.empty(), reducer.get());
  std::unique_ptr<Evaluator> evaluator;
  if (options.validation)
    evaluator = std::make_unique<Evaluator>(model, loss_fn, options.mode, options.bit_exact,
                                            options.cuda_graph, dist, options.autocast);

  History history;
  FitState state;
  state.model = &model;
  state.optimizer = &optimizer;
  state.grad_scaler = scaler;
  state.train_loader = &train;
  state.epochs = options.epochs;
  state.epoch = options.initial_epoch;
  state.steps_per_epoch = steps_per_epoch;
  state.global_step = options.initial_epoch * steps_per_epoch;
  state.history = &history;
  state.world_size = dist ? distributed::world_size() : 1;
  state.gradients = [&stepper] { return stepper.gradients(); };

  LossTracker loss_mean;
  for (auto& cb : callbacks) cb->on_train_begin(state);
  for (int64_t epoch = options.initial_epoch; epoch < options.epochs; ++epoch) {
    state.epoch = epoch;
    state.batch = 0;
    state.samples_seen = 0;
    model.train();
    loss_mean.reset();
    for (auto& m : options.metrics) m->reset();
    for (auto& cb : callbacks) cb->on_epoch_begin(state);

    double last_lr = optimizer.lr();
    train.start_epoch(epoch);
    int64_t batch_index = 0;
    while (auto batch = train.next()) {
      const int64_t bsz = batch->x.size(0);
      if (drop_last && bsz < train.batch_size()) continue;
      state.batch = batch_index;
      for (auto& cb : callbacks) cb->on_batch_begin(state);
      const bool log_now =
          (batch_index + 1) % options.log_every == 0 || batch_index + 1 == steps_per_epoch;
      if (log_now) last_lr = optimizer.lr();
      Tensor x = batch->x.to(device), y = batch->y.to(device);
      Stepper::Result r = stepper.step(x, y);
      double loss_value = 0;
      if (log_now) {
        loss_value = r.loss.item<double>();
        loss_mean.add_host(loss_value, bsz);
      } else {
        loss_mean.add_device(r.loss, bsz);
      }
      if (!options.metrics.empty()) {
        NoGradGuard no_grad;
        for (auto& m : options.metrics) m->update(r.output, y);
      }
      ++state.global_step;
      state.samples_seen += bsz;
      Logs logs;
      if (log_now) {
        logs.set("loss", loss_value);
        logs.set("lr", last_lr);
        if (scaler) {  // FitOptions::grad_scaler: steps skipped so far, and the scale now
          logs.set("skipped_steps", static_cast<double>(scaler->skipped_steps()));
          logs.set("loss_scale", scaler->get_scale());
        }
        for (auto& m : options.metrics) logs.set(m->name(), m->compute());
      }
      for (auto& cb : callbacks) cb->on_batch_end(state, logs);
      ++batch_index;
    }

    // The epoch's loss and metrics (distributed: over every rank's samples).
    std::vector<double> loss_sums{loss_mean.total(), loss_mean.count()};
    const std::vector<double> metric_values =
        global_metric_values(options.metrics, loss_sums, dist);
    Logs logs;
    logs.set("loss", loss_sums[1] == 0 ? 0.0 : loss_sums[0] / loss_sums[1]);
    for (size_t i = 0; i < options.metrics.size(); ++i)
      logs.set(options.metrics[i]->name(), metric_values[i]);
    if (evaluator) {
      Logs val = evaluator->run(*options.validation, options.metrics);
      for (const auto& [k, v] : val.items()) logs.set("val_" + k, v);
    }
    logs.set("lr", last_lr);
    if (scaler) {
      logs.set("skipped_steps", static_cast<double>(scaler->skipped_steps()));
      logs.set("loss_scale", scaler->get_scale());
    }
    history.epochs.push_back(logs);
    for (auto& cb : callbacks) cb->on_epoch_end(state, logs);
    if (dist) {  // a callback that stops one rank stops them all
      Tensor stop = Tensor::from_vector(std::vector<int64_t>{state.stop_training ? 1 : 0}, {1});
      distributed::all_reduce(stop, distributed::ReduceOp::max);
      state.stop_training = stop.to_vector<int64_t>()[0] != 0;
    }
    if (state.stop_training) break;
  }
  for (auto& cb : callbacks) cb->on_train_end(state);
  if (dist) distributed::barrier();  // rank 0's checkpoints and logs are written
  return history;
}

Logs evaluate(nn::Module& model, const LossFn& loss_fn, data::DataLoader& loader,
              const EvaluateOptions& options) {
  DUET_CHECK(loss_fn != nullptr, "evaluate: no loss function");
  DUET_CHECK(!options.distributed || distributed::is_initialized(),
             "evaluate: distributed = true but there is no process group (expected "
             "duet::distributed::init() first)");
  Evaluator ev(model, loss_fn, options.mode, options.bit_exact, options.cuda_graph,
               options.distributed, options.autocast);
  return ev.run(loader, options.metrics);
}

}  // namespace duet::train
