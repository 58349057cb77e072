// SyncBatchNorm2d: BatchNorm2d whose training statistics (mean and variance per channel) are
// those of the whole global batch, every rank's samples together, as PyTorch's
// nn.SyncBatchNorm (docs/distributed.md). Same parameters, buffers and state_dict as
// BatchNorm2d, so the two load each other's weights.
//
//   duet::distributed::init();
//   auto bn = std::make_shared<duet::nn::SyncBatchNorm2d>(64);
//   Tensor y = (*bn)(x);   // x: this rank's (N, 64, H, W); normalized with the global batch
//
// Training, eager, on W > 1 ranks: two differentiable all-reduces per call (the channel sums
// with the element count, then the sums of squared deviations), so the gradients are those
// of one process on the concatenated batch. Evaluation, a world of one (or no init()), and
// track_running_stats = false outside training behave exactly as BatchNorm2d. Every rank must
// call it the same number of times (it communicates). Not in graph mode on W > 1 ranks (an
// error). CPU tensors over MPI or Gloo; CUDA tensors over NCCL (init(Backend::nccl)).
#pragma once

#include "duet/nn/norm.h"

namespace duet::nn {

class SyncBatchNorm2d : public BatchNorm2d {
 public:
  using BatchNorm2d::BatchNorm2d;
  Tensor forward(const Tensor& x) override;  // x: (N, C, H, W)
};

}  // namespace duet::nn
