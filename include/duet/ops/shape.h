// Shape and copy ops. Views share storage with their input where the layout allows.
//
//   auto y = duet::reshape(x, {8, -1});          // x: (8, 3, 4, 4) -> y: (8, 48)
//   auto t = duet::permute(x, {0, 2, 3, 1});     // (8, 4, 4, 3), a view
//   auto s = duet::slice(x, 1, 0, 2);            // (8, 2, 4, 4), a view
//   auto c = duet::concat({a, b}, 1);            // along channels
//   auto p = duet::pad(x, {1, 1, 2, 2});         // PyTorch F.pad order: last axis first
#pragma once

#include <vector>

#include "duet/tensor.h"

namespace duet {

// one -1 allowed
Tensor reshape(const Tensor& x, const Shape& shape,
               std::source_location loc = std::source_location::current());
Tensor flatten(const Tensor& x, int64_t start_axis = 0, int64_t end_axis = -1,
               std::source_location loc = std::source_location::current());
Tensor permute(const Tensor& x, const std::vector<int64_t>& axes,
               std::source_location loc = std::source_location::current());
Tensor transpose(const Tensor& x, int64_t a, int64_t b,
                 std::source_location loc = std::source_location::current());
// Elements start, start+step, ... < end along `axis`; negative start/end count from the end
// and are clamped like Python slices. step >= 1.
Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t end, int64_t step = 1,
             std::source_location loc = std::source_location::current());
// -1 keeps a size
Tensor expand(const Tensor& x, const Shape& shape,
              std::source_location loc = std::source_location::current());
// axis must have size 1
Tensor squeeze(const Tensor& x, int64_t axis,
               std::source_location loc = std::source_location::current());
Tensor unsqueeze(const Tensor& x, int64_t axis,
                 std::source_location loc = std::source_location::current());
Tensor concat(const std::vector<Tensor>& xs, int64_t axis,
              std::source_location loc = std::source_location::current());
// pads = {before_last, after_last, before_second_last, after_second_last, ...}, all >= 0.
Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, double value = 0.0,
           std::source_location loc = std::source_location::current());
Tensor contiguous(const Tensor& x, std::source_location loc = std::source_location::current());
Tensor clone(const Tensor& x, std::source_location loc = std::source_location::current());
Tensor cast(const Tensor& x, DType dtype,
            std::source_location loc = std::source_location::current());
// A copy of x on `device` (host <-> CUDA, or between GPUs); the gradient is copied back to
// x's device. Throws duet::Error when the device is not available.
Tensor to_device(const Tensor& x, Device device,
                 std::source_location loc = std::source_location::current());
// Sums x over broadcast dimensions so the result has `shape` (the inverse of expand).
Tensor sum_to(const Tensor& x, const Shape& shape,
              std::source_location loc = std::source_location::current());
// The gradient of slice: zeros of `input_shape` with `grad` written at the sliced positions.
Tensor slice_backward(const Tensor& grad, const Shape& input_shape, int64_t axis, int64_t start,
                      int64_t end, int64_t step,
                      std::source_location loc = std::source_location::current());

}  // namespace duet
