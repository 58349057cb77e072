// Shared pieces of the neural-network operator family (import_nn_ops.cpp joins the tables):
// the sliding-window attributes of Conv, ConvTranspose and the pools (kernel_shape, strides,
// dilations, pads, auto_pad), read for 1 or 2 spatial axes and lifted to duet's 2-D ops.
//
//   Window w = read_window(n, spatial, kernel_of_weight, /*dilations_allowed=*/true);
//   resolve_forward_pads(w, spatial_sizes);       // auto_pad SAME_* / VALID -> pad_begin/end
//   Tensor x4 = lift_1d(x, spatial);                // (N, C, L) -> (N, C, 1, L)
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "duet/int2.h"
#include "duet/tensor.h"
#include "onnx/import_ops.h"

namespace duet::onnx::detail {

// The family tables (one file each), joined by nn_operators().
std::span<const OperatorDef> conv_operators();        // import_conv_ops.cpp
std::span<const OperatorDef> pool_operators();        // import_pool_ops.cpp
std::span<const OperatorDef> activation_operators();  // import_activation_ops.cpp
std::span<const OperatorDef> norm_operators();        // import_norm_ops.cpp

// A sliding window over the (H, W) axes of duet's 2-D ops; a 1-D ONNX window (axis L) is
// axis W, with H: kernel 1, stride 1, dilation 1, no padding.
struct Window {
  Int2 kernel{1, 1};
  Int2 stride{1, 1};
  Int2 dilation{1, 1};
  Int2 pad_begin{0, 0};
  Int2 pad_end{0, 0};
  std::string auto_pad = "NOTSET";
  bool symmetric() const { return pad_begin == pad_end; }
};

// The number of spatial axes of input `x` (rank 3 -> 1, rank 4 -> 2); fails for any other
// rank naming `what` ("X") and saying that 3-D windows are not supported.
size_t spatial_rank(const NodeContext& n, const Tensor& x, const char* what);
// Reads kernel_shape (required when `weight_kernel` is empty, else checked against it),
// strides, dilations (fails for values != 1 when !dilations_allowed), pads and auto_pad. Each
// list must have `spatial` values (pads: 2 * spatial, begins first); values are bounded
// (kernel, stride, dilation in [1, 2^20], pads in [0, 2^20]) so window arithmetic never
// overflows.
Window read_window(const NodeContext& n, size_t spatial, const std::vector<int64_t>& weight_kernel,
                   bool dilations_allowed);
// Conv and pools: auto_pad SAME_UPPER / SAME_LOWER -> pads giving ceil(in / stride) outputs
// (the odd pixel at the end / the beginning), VALID -> no padding, NOTSET -> the pads read.
// `sizes` are the input's spatial sizes as 2-D (H, W).
void resolve_forward_pads(Window& w, Int2 sizes);

// (N, C, L) -> (N, C, 1, L) when spatial == 1; unchanged when 2.
Tensor lift_1d(const Tensor& x, size_t spatial);
// The inverse: (N, C, 1, L) -> (N, C, L) when spatial == 1.
Tensor lower_1d(const Tensor& y, size_t spatial);
// duet::pad's list for a 4-D tensor: {w_begin, w_end, h_begin, h_end}.
std::vector<int64_t> pad_list(const Window& w);
// True when output `i` exists in the file and has a name (an output someone may read).
bool output_requested(const NodeContext& n, size_t i);

}  // namespace duet::onnx::detail
