// Activations (PyTorch definitions).
//
//   auto y = duet::relu(x);
//   auto z = duet::gelu(x, /*tanh_approximation=*/false);
#pragma once

#include "duet/tensor.h"

namespace duet {

Tensor relu(const Tensor& x);
Tensor relu6(const Tensor& x);                                 // min(max(x, 0), 6)
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor silu(const Tensor& x);                                  // x * sigmoid(x)
Tensor hardsigmoid(const Tensor& x);                           // relu6(x + 3) / 6
Tensor hardswish(const Tensor& x);                             // x * relu6(x + 3) / 6
Tensor gelu(const Tensor& x, bool tanh_approximation = false);

}  // namespace duet
