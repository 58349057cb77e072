// Fully connected layer and the shape-only modules Flatten and Identity.
//
//   duet::nn::Linear fc(784, 10);          // weight (10, 784), bias (10), PyTorch init
//   auto y = fc(x);                        // x: (N, 784) -> (N, 10)
//   duet::nn::Flatten flat;                // (N, C, H, W) -> (N, C * H * W)
#pragma once

#include "duet/nn/module.h"
#include "duet/random.h"

namespace duet::nn {

class Linear : public Module {
 public:
  // weight ~ kaiming_uniform_(a = sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)); bias the same bound.
  Linear(int64_t in_features, int64_t out_features, bool bias = true,
         Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;  // x: (..., in) -> (..., out)
  std::string extra_repr() const override;

  Tensor weight;  // (out, in)
  Tensor bias;    // (out), undefined without bias
  int64_t in_features, out_features;
};

class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_axis = 1, int64_t end_axis = -1);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  int64_t start_axis, end_axis;
};

class Identity : public Module {
 public:
  Identity() : Module("Identity") {}
  Tensor forward(const Tensor& x) override { return x; }
};

}  // namespace duet::nn
