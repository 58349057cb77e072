// Pooling over NCHW tensors, with PyTorch semantics (ceil_mode, count_include_pad, and
// adaptive pooling to outputs larger than the input).
//
//   auto y = duet::max_pool2d(x, {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}});
//   auto g = duet::adaptive_avg_pool2d(x, {1, 1});   // (N, C, 1, 1)
#pragma once

#include <array>
#include <cstdint>

#include "duet/tensor.h"

namespace duet {

struct Pool2dOptions {
  std::array<int64_t, 2> kernel{2, 2};
  std::array<int64_t, 2> stride{0, 0};  // 0: same as kernel
  std::array<int64_t, 2> padding{0, 0};
  std::array<int64_t, 2> dilation{1, 1};  // max pooling only
  bool ceil_mode = false;
  bool count_include_pad = true;  // avg pooling only
};

Tensor max_pool2d(const Tensor& x, const Pool2dOptions& options);
Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& options);
Tensor adaptive_avg_pool2d(const Tensor& x, std::array<int64_t, 2> output_size);

// Backward ops. indices: int64 (N, C, OH, OW), flat positions in each (H * W) input plane.
Tensor max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Shape& input_shape);
Tensor avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape,
                           const Pool2dOptions& options);
Tensor adaptive_avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape);

}  // namespace duet
