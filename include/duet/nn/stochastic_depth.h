// Stochastic depth (torchvision.ops.StochasticDepth): drops whole residual branches.
//
//   duet::nn::StochasticDepth sd(0.2, "row");   // the generator must outlive the module
//   auto y = sd(x);     // training: each sample of x (N, ...) is zeroed with probability p,
//                       // the others are scaled by 1 / (1 - p); mode "batch": all or nothing
//   sd.eval();
//   auto z = sd(x);     // identity
//
// No op of its own: the mask (N, 1, ..., 1) is dropout(ones, p) and y = x * mask, so eager
// and graph mode draw the same seeds (see duet/ops/random.h).
#pragma once

#include <string>

#include "duet/nn/module.h"
#include "duet/random.h"

namespace duet::nn {

class StochasticDepth : public Module {
 public:
  // p in [0, 1]; mode "row" (one draw per sample) or "batch" (one draw for the batch).
  explicit StochasticDepth(double p, std::string mode = "row",
                           Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;  // x: (N, ...) -> (N, ...)
  std::string extra_repr() const override;   // "p=0.2, mode=row"
  double p;
  std::string mode;

 private:
  Generator* gen_;
};

}  // namespace duet::nn
