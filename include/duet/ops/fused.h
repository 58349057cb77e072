// Fused ops: a conv2d / linear / add with its epilogue (residual add, activation) in one op.
// The graph compiler's epilogue fusion produces them; they can be called eagerly too and are
// differentiable.
//
//   // y = relu(conv2d(x, w, b) + r), one op: conv kernel, then one pass over y
//   auto y = duet::conv2d_fused(x, w, b, r, {.padding = {1, 1}}, "relu");
//   auto z = duet::linear_fused(h, w1, b1, "silu");   // silu(linear(h, w1, b1))
//   auto s = duet::add_relu(a, b);                     // relu(a + b), a and b of one shape
//
// activation: "none" or an activation that fuses as an epilogue ("relu", "relu6", "sigmoid",
// "silu", "hardswish", ...: kernels/activations.h lists them); activation_attrs: its attrs
// where it has any (as the activation op takes them), defaults otherwise. The results equal
// the unfused ops bit for bit (the same float operations in the same order).
#pragma once

#include <source_location>
#include <string>

#include "duet/attrs.h"
#include "duet/ops/conv.h"
#include "duet/tensor.h"

namespace duet {

// Op "conv2d_fused": activation(conv2d(x, weight, bias) + residual).
// x: (N, C, H, W), weight: (O, C / groups, KH, KW), bias: (O) or undefined,
// residual: (N, O, OH, OW) or undefined -> (N, O, OH, OW).
Tensor conv2d_fused(const Tensor& x, const Tensor& weight, const Tensor& bias,
                    const Tensor& residual, const Conv2dOptions& options,
                    const std::string& activation, const Attrs& activation_attrs = {},
                    std::source_location loc = std::source_location::current());

// Op "linear_fused": activation(linear(x, weight, bias)).
// x: (..., in), weight: (out, in), bias: (out) or undefined -> (..., out).
Tensor linear_fused(const Tensor& x, const Tensor& weight, const Tensor& bias,
                    const std::string& activation, const Attrs& activation_attrs = {},
                    std::source_location loc = std::source_location::current());

// Op "add_relu": relu(a + b); a and b of the same shape and dtype (no broadcasting).
Tensor add_relu(const Tensor& a, const Tensor& b,
                std::source_location loc = std::source_location::current());

}  // namespace duet
