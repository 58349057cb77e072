// Pooling over NCHW tensors, with PyTorch semantics (ceil_mode, count_include_pad, and
// adaptive pooling to outputs larger than the input).
//
//   auto y = duet::max_pool2d(x, {.kernel = 3, .stride = 2, .padding = 1});  // (3, 3), ...
//   auto g = duet::adaptive_avg_pool2d(x, {1, 1});   // (N, C, 1, 1)
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "duet/int2.h"
#include "duet/tensor.h"

namespace duet {

// One value means both axes ({.kernel = 3} is (3, 3)); {a, b} is (height, width).
struct Pool2dOptions {
  Int2 kernel = 2;
  Int2 stride = 0;    // 0: same as kernel
  Int2 padding = 0;
  Int2 dilation = 1;  // max pooling only
  bool ceil_mode = false;
  bool count_include_pad = true;  // avg pooling only
};

// Errors (duet::Error) when padding > kernel / 2 or the output would be empty. Windows are
// padded with -inf; NaN propagates. Gradient: max_pool2d_backward at the saved indices.
Tensor max_pool2d(const Tensor& x, const Pool2dOptions& options,
                  std::source_location loc = std::source_location::current());
// {values, indices}: indices int64 (N, C, OH, OW), flat positions h * W + w in each input plane
// (-1 for a window that holds no input element, possible only with dilation).
std::vector<Tensor> max_pool2d_with_indices(
    const Tensor& x, const Pool2dOptions& options,
    std::source_location loc = std::source_location::current());
// options.dilation must be {1, 1}. Divisors as PyTorch: with count_include_pad the window is
// counted up to the padded border (so ceil_mode windows past it are clipped).
Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& options,
                  std::source_location loc = std::source_location::current());
// Window i spans [floor(i * H / OH), ceil((i + 1) * H / OH)); OH may exceed H.
Tensor adaptive_avg_pool2d(const Tensor& x, std::array<int64_t, 2> output_size,
                           std::source_location loc = std::source_location::current());

// Backward ops. indices: int64 (N, C, OH, OW), flat positions in each (H * W) input plane.
Tensor max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Shape& input_shape,
                           std::source_location loc = std::source_location::current());
Tensor avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape,
                           const Pool2dOptions& options,
                           std::source_location loc = std::source_location::current());
Tensor adaptive_avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape,
                                    std::source_location loc = std::source_location::current());
// The gradient of max_pool2d_backward: out[n, c, i, j] = x[n, c].flat[indices[n, c, i, j]]
// (0 where the index is -1). x: (N, C, H, W), indices: (N, C, OH, OW) -> (N, C, OH, OW).
Tensor max_pool2d_gather(const Tensor& x, const Tensor& indices,
                         std::source_location loc = std::source_location::current());

}  // namespace duet
