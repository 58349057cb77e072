// The Fashion-MNIST CNN used by the examples and the eager-vs-graph comparison.
//
//   duet::Generator gen(0);
//   auto net = duet::models::fashion_cnn(gen);   // x: (N, 1, 28, 28) -> logits (N, 10)
//   auto logits = (*net)(x);
//
// Layers (state_dict names in brackets):
//   conv 1->32 3x3 pad 1 [0], BN [1], ReLU, max-pool 2          (N, 32, 14, 14)
//   conv 32->64 3x3 pad 1 [4], BN [5], ReLU, max-pool 2         (N, 64, 7, 7)
//   flatten, linear 3136->128 [9], ReLU, dropout(p), linear 128->10 [12]
#pragma once

#include <memory>

#include "duet/nn.h"

namespace duet::models {

std::shared_ptr<nn::Sequential> fashion_cnn(Generator& gen = default_generator(),
                                            double dropout = 0.25);

}  // namespace duet::models
