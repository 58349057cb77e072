// 2-D convolution (NCHW, weights OIHW) with stride, padding, dilation and groups.
//
//   // x: (N, C, H, W), w: (O, C / groups, KH, KW), b: (O)
//   auto y = duet::conv2d(x, w, b, {.stride = {2, 2}, .padding = {1, 1}});
//   // depthwise: groups = C, w: (C, 1, 3, 3)
#pragma once

#include <array>
#include <cstdint>

#include <source_location>

#include "duet/tensor.h"

namespace duet {

struct Conv2dOptions {
  std::array<int64_t, 2> stride{1, 1};
  std::array<int64_t, 2> padding{0, 0};
  std::array<int64_t, 2> dilation{1, 1};
  int64_t groups = 1;
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
