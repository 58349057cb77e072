// 2-D convolution (NCHW, weights OIHW) with stride, padding, dilation and groups.
//
//   // x: (N, C, H, W), w: (O, C / groups, KH, KW), b: (O)
//   auto y = duet::conv2d(x, w, b, {.stride = 2, .padding = 1});   // (2, 2) and (1, 1)
//   auto z = duet::conv2d(x, w, b, {.padding = {1, 0}});          // per axis: (H, W)
//   // depthwise: groups = C, w: (C, 1, 3, 3)
#pragma once

#include <array>
#include <cstdint>

#include <source_location>

#include "duet/int2.h"
#include "duet/tensor.h"

namespace duet {

// One value means both axes ({.padding = 1} is (1, 1)); {a, b} is (height, width).
struct Conv2dOptions {
  Int2 stride = 1;    // > 0
  Int2 padding = 0;   // >= 0
  Int2 dilation = 1;  // > 0
  int64_t groups = 1;  // > 0, divides the input and output channels
};

// bias may be undefined.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              const Conv2dOptions& options = {},
              std::source_location loc = std::source_location::current());
// The backward passes, ops of their own (each with its own kernel and gradient).
// grad_out: (N, O, OH, OW) -> (N, C, H, W) for input_shape (N, C, H, W)
Tensor conv2d_backward_input(const Tensor& grad_out, const Tensor& weight, const Shape& input_shape,
                             const Conv2dOptions& options,
                             std::source_location loc = std::source_location::current());
// grad_out: (N, O, OH, OW), x: (N, C, H, W) -> (O, C / groups, KH, KW)
Tensor conv2d_backward_weight(const Tensor& grad_out, const Tensor& x, const Shape& weight_shape,
                              const Conv2dOptions& options,
                              std::source_location loc = std::source_location::current());

}  // namespace duet
