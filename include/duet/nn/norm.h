// Batch normalisation layer for (N, C, H, W) inputs, PyTorch's nn.BatchNorm2d.
//
//   duet::nn::BatchNorm2d bn(64);
//   auto y = bn(x);     // training: batch statistics; updates running_mean/var in place and
//                       // increments num_batches_tracked
//   bn.eval();
//   auto z = bn(x);     // inference: running statistics
#pragma once

#include <optional>

#include "duet/nn/module.h"

namespace duet::nn {

class BatchNorm2d : public Module {
 public:
  // momentum = std::nullopt: cumulative moving average (factor 1 / num_batches_tracked).
  explicit BatchNorm2d(int64_t num_features, double eps = 1e-5,
                       std::optional<double> momentum = 0.1, bool affine = true,
                       bool track_running_stats = true);
  Tensor forward(const Tensor& x) override;  // x: (N, C, H, W)
  std::string extra_repr() const override;

  Tensor weight, bias;               // (C), 1 and 0; undefined when !affine
  Tensor running_mean, running_var;  // (C), 0 and 1; undefined when !track_running_stats
  Tensor num_batches_tracked;        // int64, shape ()
  int64_t num_features;
  double eps;
  std::optional<double> momentum;
  bool affine, track_running_stats;
};

}  // namespace duet::nn
