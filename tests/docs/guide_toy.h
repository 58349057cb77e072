// The toy problem of docs/guide.md's training sections (is x0 + x1 > 0?) and its model,
// shared by the guide's test files.
#pragma once

#include <memory>
#include <vector>

#include "duet/nn.h"
#include "duet/ops.h"
#include "duet/random.h"
#include "duet/tensor.h"

namespace guide_toy {

// Linear(2, 16), ReLU, Linear(16, 2), seeded.
inline std::shared_ptr<duet::nn::Sequential> toy_net() {
  duet::Generator gen(1);
  return std::make_shared<duet::nn::Sequential>(std::vector<std::shared_ptr<duet::nn::Module>>{
      std::make_shared<duet::nn::Linear>(2, 16, true, gen), std::make_shared<duet::nn::ReLU>(),
      std::make_shared<duet::nn::Linear>(16, 2, true, gen)});
}

struct Toy {
  duet::Tensor inputs, labels;
};
inline Toy toy_data() {
  duet::Generator gen(0);
  duet::Tensor inputs = duet::Tensor::randn({256, 2}, gen);                     // (256, 2)
  duet::Tensor labels = duet::gt(duet::sum(inputs, {1}), 0.0).to(duet::int64);  // (256)
  return {inputs, labels};
}

}  // namespace guide_toy
