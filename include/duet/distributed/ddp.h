// DistributedDataParallel: the same model on every rank, each rank on its own shard of the
// data, gradients averaged over the ranks before every optimizer step (PyTorch's DDP).
//
//   duet::distributed::init();
//   auto net = duet::models::resnet18({.num_classes = 10});
//   auto ddp = std::make_shared<duet::distributed::DistributedDataParallel>(net);
//   duet::optim::SGD opt(net->parameters(), 0.1);   // the wrapped model's own parameters
//   for (auto& b : loader) {                          // a DistributedSampler shards the data
//     opt.zero_grad();
//     duet::cross_entropy((*ddp)(b.x), b.y).backward();   // buckets all-reduce during backward
//     opt.step();                                          // every rank applies the same update
//   }
//   { auto guard = ddp->no_sync(); /* backward here accumulates locally: no communication */ }
//
// Construction broadcasts rank 0's parameters and buffers (so every rank starts equal) after
// checking that every rank has the same parameter list (names, dtypes, shapes).
//
// Buckets: the parameters that require grad, in reverse registration order (roughly the
// order backward produces their gradients), packed into buckets of at most bucket_cap_mb
// (one parameter larger than that gets a bucket of its own), one bucket per dtype run.
//
// Eager: a hook fires when backward has accumulated a parameter's gradient for the last time
// in this backward; when a bucket's last parameter is ready, its gradients are copied into the
// bucket's flat buffer and its all-reduce (average) starts on the communication thread, while
// backward goes on. When backward ends, the reducer waits for every bucket and writes the
// averaged gradients back into each parameter's .grad. A parameter that got no gradient in
// this backward (unused in forward) contributes its current .grad (zeros when it has none,
// as after zero_grad), and its .grad is set to the average over the ranks (zeros when no rank
// used it). One backward per forward: forward arms the hooks, that backward disarms them.
//
// Graph: all_reduce_gradients(grads) on symbolic gradients records, per bucket, a flatten, an
// all_reduce_start node and an all_reduce_wait node; the compiler's schedule pass places each
// start right after its bucket's last gradient is computed and each wait right before the
// first use of the averaged gradients, so communication overlaps the rest of backward without
// host code (docs/distributed.md). fit(..., {.distributed = true}) does both for you.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "duet/distributed.h"
#include "duet/nn/module.h"

namespace duet::distributed {

struct DDPOptions {
  double bucket_cap_mb = 25;      // per bucket (MiB of gradient)
  bool broadcast_buffers = true;  // also broadcast the buffers (BN running stats) at start
  // Eager: start a bucket's all-reduce as soon as it is ready (false: all after backward).
  bool overlap = true;
  // Eager: after the reduction each parameter's .grad is a view of its bucket's buffer instead
  // of a copy (PyTorch's gradient_as_bucket_view; saves one copy of every gradient per step).
  // Such a .grad is overwritten by the next reduction: do not keep it across steps.
  bool gradient_as_bucket_view = false;
};

// The bucketed gradient all-reduce of a list of parameters, used by DistributedDataParallel
// and by fit(..., {.distributed = true}).
class GradientReducer {
 public:
  // params: the parameters whose gradients are averaged (every one requires grad; others
  // are ignored). Checks the list is the same on every rank.
  GradientReducer(std::vector<Tensor> params, const DDPOptions& options = {});
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Eager: arm the hooks for the next backward (DistributedDataParallel::forward calls it).
  // After that backward, every parameter's .grad holds the average over the ranks.
  void prepare_for_backward();
  // Eager: waits for the buckets of the last backward and writes back the gradients
  // (called by the end-of-backward callback; callable again: a no-op then).
  void finish();

  // Averages `grads` (one per parameter, in the constructor's order; undefined: unused) over
  // the ranks. Symbolic gradients (graph mode) get start/wait nodes per bucket; concrete ones
  // are reduced now (bucket by bucket, blocking). Returns one defined gradient per parameter.
  std::vector<Tensor> all_reduce_gradients(const std::vector<Tensor>& grads);

  // While a guard lives, eager backward accumulates locally without communicating.
  class NoSyncGuard {
   public:
    explicit NoSyncGuard(GradientReducer& r);
    ~NoSyncGuard();
    NoSyncGuard(const NoSyncGuard&) = delete;
    NoSyncGuard& operator=(const NoSyncGuard&) = delete;

   private:
    GradientReducer& r_;
    bool prev_;
  };
  NoSyncGuard no_sync() { return NoSyncGuard(*this); }

  struct BucketInfo {
    std::vector<int64_t> params;  // indices into the constructor's list, in bucket order
    int64_t numel = 0;
    DType dtype = float32;
  };
  const std::vector<BucketInfo>& buckets() const;
  const std::vector<Tensor>& params() const;

  // Eager, for tests and the benchmark: per bucket of the last backward, seconds from the
  // start of backward to the all-reduce's start and to its completion (as first observed by
  // the reducer: at a later hook or at the end of backward, so an upper bound), and to the
  // moment its last gradient was ready.
  struct Timing {
    double started = 0, completed = 0;
    double ready = 0;
  };
  std::vector<Timing> last_timings() const;
  // Seconds from the start of that backward (prepare_for_backward) to its end (when the
  // reducer's end-of-backward callback ran): the compute the all-reduces can hide behind.
  double last_backward_seconds() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Broadcasts `module`'s parameters (and buffers, when `buffers`) from `root` to every rank,
// after checking every rank has the same names, dtypes and shapes.
void broadcast_module(nn::Module& module, int root = 0, bool buffers = true);

class DistributedDataParallel : public nn::Module {
 public:
  explicit DistributedDataParallel(std::shared_ptr<nn::Module> module,
                                   const DDPOptions& options = {});
  Tensor forward(const Tensor& x) override;
  std::vector<Tensor> forward_many(const std::vector<Tensor>& inputs) override;

  nn::Module& module() { return *module_; }
  GradientReducer& reducer() { return *reducer_; }
  GradientReducer::NoSyncGuard no_sync() { return reducer_->no_sync(); }

 private:
  std::shared_ptr<nn::Module> module_;
  std::unique_ptr<GradientReducer> reducer_;
};

}  // namespace duet::distributed
