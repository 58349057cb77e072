// Ops that draw random numbers.
//
//   auto y = duet::dropout(x, 0.5, /*training=*/true, gen);
#pragma once

#include "duet/random.h"
#include "duet/tensor.h"

namespace duet {

// Zeroes each element with probability p and scales the rest by 1 / (1 - p). Identity
// when !training or p == 0. The op draws one seed from `gen` per call, so the same seed
// gives the same masks.
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen = default_generator(),
               std::source_location loc = std::source_location::current());

}  // namespace duet
