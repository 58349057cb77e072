// Activations (PyTorch definitions).
//
//   auto y = duet::relu(x);
//   auto z = duet::gelu(x, /*tanh_approximation=*/false);
//   auto s = duet::softplus(x, /*beta=*/2.0, /*threshold=*/20.0);
#pragma once

#include "duet/tensor.h"

namespace duet {

Tensor relu(const Tensor& x, std::source_location loc = std::source_location::current());
// min(max(x, 0), 6)
Tensor relu6(const Tensor& x, std::source_location loc = std::source_location::current());
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01,
                  std::source_location loc = std::source_location::current());
Tensor sigmoid(const Tensor& x, std::source_location loc = std::source_location::current());
Tensor tanh(const Tensor& x, std::source_location loc = std::source_location::current());
// x * sigmoid(x)
Tensor silu(const Tensor& x, std::source_location loc = std::source_location::current());
// relu6(x + 3) / 6
Tensor hardsigmoid(const Tensor& x, std::source_location loc = std::source_location::current());
// x * relu6(x + 3) / 6
Tensor hardswish(const Tensor& x, std::source_location loc = std::source_location::current());
Tensor gelu(const Tensor& x, bool tanh_approximation = false,
            std::source_location loc = std::source_location::current());
// log(1 + exp(beta x)) / beta, and x where beta x > threshold (PyTorch's softplus)
Tensor softplus(const Tensor& x, double beta = 1.0, double threshold = 20.0,
                std::source_location loc = std::source_location::current());

// ---- fused gradients (each one op with its own kernel; used by the gradient rules) ----
// `y` is the activation's output, `x` its input; all return grad * d(activation)/dx.
// grad * (y > 0)
Tensor relu_backward(const Tensor& grad, const Tensor& y,
                     std::source_location loc = std::source_location::current());
// grad * (0 < y < 6)
Tensor relu6_backward(const Tensor& grad, const Tensor& y,
                      std::source_location loc = std::source_location::current());
Tensor leaky_relu_backward(const Tensor& grad, const Tensor& x, double negative_slope,
                           std::source_location loc = std::source_location::current());
// grad * y * (1 - y)
Tensor sigmoid_backward(const Tensor& grad, const Tensor& y,
                        std::source_location loc = std::source_location::current());
// grad * (1 - y^2)
Tensor tanh_backward(const Tensor& grad, const Tensor& y,
                     std::source_location loc = std::source_location::current());
Tensor silu_backward(const Tensor& grad, const Tensor& x,
                     std::source_location loc = std::source_location::current());
// grad * (-3 < x < 3) / 6
Tensor hardsigmoid_backward(const Tensor& grad, const Tensor& x,
                            std::source_location loc = std::source_location::current());
Tensor hardswish_backward(const Tensor& grad, const Tensor& x,
                          std::source_location loc = std::source_location::current());
Tensor gelu_backward(const Tensor& grad, const Tensor& x, bool tanh_approximation = false,
                     std::source_location loc = std::source_location::current());
// grad * sigmoid(beta x), and grad where beta x > threshold
Tensor softplus_backward(const Tensor& grad, const Tensor& x, double beta = 1.0,
                         double threshold = 20.0,
                         std::source_location loc = std::source_location::current());

}  // namespace duet
