// Dropout module: active only in training mode.
//
//   duet::Generator gen(1);
//   duet::nn::Dropout drop(0.5, gen);  // the generator must outlive the module
//   auto y = drop(x);                  // training: zeroes ~half, scales the rest by 2
//   drop.eval();
//   auto z = drop(x);                  // identity
#pragma once

#include "duet/nn/module.h"
#include "duet/random.h"

namespace duet::nn {

class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  double p;

 private:
  Generator* gen_;
};

}  // namespace duet::nn
