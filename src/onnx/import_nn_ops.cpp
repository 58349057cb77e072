// ONNX operators of neural-network layers (Conv, pooling, BatchNormalization, activations,
// Gemm/MatMul, Softmax, ...) mapped onto duet's ops (src/onnx/import_ops.h). The converters
// live in import_conv_ops.cpp, import_pool_ops.cpp and import_activation_ops.cpp; this file
// joins their tables and holds the window attributes they share (import_nn_ops.h).
#include "onnx/import_nn_ops.h"

#include <algorithm>
#include <string>

#include "duet/ops/shape.h"

namespace duet::onnx::detail {

namespace {

using duet::detail::cat;

constexpr int64_t kMaxWindow = int64_t{1} << 20;  // kernel, stride, dilation, pad bound

std::string list_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

// A per-axis attribute with `count` values in [lo, kMaxWindow], or `fallback` when absent.
std::vector<int64_t> window_ints(const NodeContext& n, const char* name, size_t count, int64_t lo,
                                 int64_t fallback) {
  if (!n.has_attr(name)) return std::vector<int64_t>(count, fallback);
  std::vector<int64_t> v = n.attr_ints(name);
  if (v.size() != count)
    n.fail(cat(name, " = ", list_str(v), " has ", v.size(), " values (expected ", count,
               " for an input with ", count / (std::string(name) == "pads" ? 2 : 1),
               " spatial axes)"));
  for (int64_t x : v)
    if (x < lo || x > kMaxWindow)
      n.fail(cat(name, " = ", list_str(v), " (expected values in [", lo, ", ", kMaxWindow, "])"));
  return v;
}

// The 2-D value of an ONNX per-axis list: 1-D lists fill the W axis, H gets `h`.
Int2 as_2d(const std::vector<int64_t>& v, size_t offset, size_t spatial, int64_t h) {
  return spatial == 1 ? Int2{h, v[offset]} : Int2{v[offset], v[offset + 1]};
}

}  // namespace

std::span<const OperatorDef> nn_operators() {
  static const std::vector<OperatorDef> all = [] {
    std::vector<OperatorDef> v;
    for (auto table :
         {conv_operators(), pool_operators(), activation_operators(), norm_operators()})
      v.insert(v.end(), table.begin(), table.end());
    return v;
  }();
  return all;
}

size_t spatial_rank(const NodeContext& n, const Tensor& x, const char* what) {
  const int64_t r = x.dim();
  if (r == 3 || r == 4) return static_cast<size_t>(r - 2);
  n.fail(cat(what, " has shape ", shape_str(x.shape()), " (rank ", r,
             "); supported: (N, C, L) and (N, C, H, W) (1-D and 2-D windows; 3-D is not "
             "supported)"));
}

Window read_window(const NodeContext& n, size_t spatial, const std::vector<int64_t>& weight_kernel,
                   bool dilations_allowed) {
  Window w;
  std::vector<int64_t> kernel;
  if (n.has_attr("kernel_shape")) {
    kernel = window_ints(n, "kernel_shape", spatial, 1, 1);
    if (!weight_kernel.empty() && kernel != weight_kernel)
      n.fail(cat("kernel_shape = ", list_str(kernel), " but the weight's kernel is ",
                 list_str(weight_kernel), " (expected them equal)"));
  } else if (!weight_kernel.empty()) {
    kernel = weight_kernel;
    for (int64_t k : kernel)
      if (k < 1 || k > kMaxWindow)
        n.fail(cat("the weight's kernel ", list_str(kernel), " (expected sizes in [1, ", kMaxWindow,
                   "])"));
  } else {
    n.fail("attribute kernel_shape is missing (required)");
  }
  const std::vector<int64_t> strides = window_ints(n, "strides", spatial, 1, 1);
  const std::vector<int64_t> dilations = window_ints(n, "dilations", spatial, 1, 1);
  const std::vector<int64_t> pads = window_ints(n, "pads", 2 * spatial, 0, 0);
  if (!dilations_allowed)
    for (int64_t d : dilations)
      if (d != 1) n.fail(cat("dilations = ", list_str(dilations), " is not supported (only 1)"));
  w.kernel = as_2d(kernel, 0, spatial, 1);
  w.stride = as_2d(strides, 0, spatial, 1);
  w.dilation = as_2d(dilations, 0, spatial, 1);
  w.pad_begin = as_2d(pads, 0, spatial, 0);
  w.pad_end = as_2d(pads, spatial, spatial, 0);
  w.auto_pad = n.attr_string("auto_pad", "NOTSET");
  if (w.auto_pad.empty()) w.auto_pad = "NOTSET";  // some old exporters write ""
  if (w.auto_pad != "NOTSET" && w.auto_pad != "SAME_UPPER" && w.auto_pad != "SAME_LOWER" &&
      w.auto_pad != "VALID")
    n.fail(cat("auto_pad = '", w.auto_pad,
               "' is not supported (expected NOTSET, SAME_UPPER, SAME_LOWER or VALID)"));
  if (w.auto_pad != "NOTSET" && (w.pad_begin != Int2{0, 0} || w.pad_end != Int2{0, 0}))
    n.fail(cat("pads = ", list_str(pads), " with auto_pad = ", w.auto_pad,
               " (expected explicit pads only with auto_pad = NOTSET)"));
  return w;
}

void resolve_forward_pads(Window& w, Int2 sizes) {
  if (w.auto_pad == "NOTSET" || w.auto_pad == "VALID") return;  // VALID: pads are 0
  for (size_t a = 0; a < 2; ++a) {
    const int64_t in = sizes[a];
    const int64_t out = (in + w.stride[a] - 1) / w.stride[a];  // ceil(in / stride)
    const int64_t span = (w.kernel[a] - 1) * w.dilation[a] + 1;
    const int64_t total = std::max<int64_t>(0, (out - 1) * w.stride[a] + span - in);
    const int64_t small = total / 2;
    w.pad_begin[a] = w.auto_pad == "SAME_UPPER" ? small : total - small;
    w.pad_end[a] = total - w.pad_begin[a];
  }
}

Tensor lift_1d(const Tensor& x, size_t spatial) {
  return spatial == 1 ? unsqueeze(x, 2) : x;
}

Tensor lower_1d(const Tensor& y, size_t spatial) {
  return spatial == 1 ? squeeze(y, 2) : y;
}

std::vector<int64_t> pad_list(const Window& w) {
  return {w.pad_begin[1], w.pad_end[1], w.pad_begin[0], w.pad_end[0]};
}

bool output_requested(const NodeContext& n, size_t i) {
  return i < n.num_outputs() && !n.node().output(static_cast<int>(i)).empty();
}

}  // namespace duet::onnx::detail
