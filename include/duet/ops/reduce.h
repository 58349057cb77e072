// Reductions. An empty axes list reduces over every axis.
//
//   auto s = duet::sum(x);                    // (), all elements
//   auto m = duet::mean(x, {2, 3}, true);     // (N, C, H, W) -> (N, C, 1, 1)
//   auto k = duet::argmax(logits, 1);         // (N, C) -> (N) int64
#pragma once

#include <vector>

#include "duet/tensor.h"

namespace duet {

Tensor sum(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false,
           std::source_location loc = std::source_location::current());
Tensor mean(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false,
            std::source_location loc = std::source_location::current());
// Gradient flows to the (first) maximal element of each reduced group.
Tensor max(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false,
           std::source_location loc = std::source_location::current());
// int64, no gradient
Tensor argmax(const Tensor& x, int64_t axis, bool keepdim = false,
              std::source_location loc = std::source_location::current());

// The gradient of max: zeros shaped like x with grad (shaped like max(x, axes, keepdim))
// written at the first maximal element of each reduced group (row-major order; a NaN counts
// as maximal). For one axis this is the index argmax returns, as PyTorch's max(dim);
// for several axes PyTorch's amax would split the gradient among ties, duet does not.
Tensor max_backward(const Tensor& grad, const Tensor& x, const std::vector<int64_t>& axes = {},
                    bool keepdim = false,
                    std::source_location loc = std::source_location::current());

}  // namespace duet
