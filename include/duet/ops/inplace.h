// Small in-place ops on buffers: outside autograd, recorded as side-effect nodes in graph
// mode (so a compiled graph updates the buffer each run instead of freezing a host value).
//
//   duet::NoGradGuard no_grad;
//   duet::increment_(bn.num_batches_tracked);      // () int64: 0 -> 1
//   duet::increment_(counter, 0.5);                 // float tensors: every element += 0.5
#pragma once

#include <source_location>

#include "duet/tensor.h"

namespace duet {

// Op "increment_": x += value, elementwise, in place (x: int64, float32 or float64, any shape;
// value is converted to x's dtype). No outputs, no gradient.
void increment_(const Tensor& x, double value = 1.0,
                std::source_location loc = std::source_location::current());

}  // namespace duet
