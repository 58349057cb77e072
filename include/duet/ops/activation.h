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

// ---- fused gradients (each one op with its own kernel; used by the gradient rules) ----
// `y` is the activation's output, `x` its input; all return grad * d(activation)/dx.
Tensor relu_backward(const Tensor& grad, const Tensor& y);           // grad * (y > 0)
Tensor relu6_backward(const Tensor& grad, const Tensor& y);          // grad * (0 < y < 6)
Tensor leaky_relu_backward(const Tensor& grad, const Tensor& x, double negative_slope);
Tensor sigmoid_backward(const Tensor& grad, const Tensor& y);        // grad * y * (1 - y)
Tensor tanh_backward(const Tensor& grad, const Tensor& y);           // grad * (1 - y^2)
Tensor silu_backward(const Tensor& grad, const Tensor& x);
Tensor hardsigmoid_backward(const Tensor& grad, const Tensor& x);    // grad * (-3 < x < 3) / 6
Tensor hardswish_backward(const Tensor& grad, const Tensor& x);
Tensor gelu_backward(const Tensor& grad, const Tensor& x, bool tanh_approximation = false);

}  // namespace duet
