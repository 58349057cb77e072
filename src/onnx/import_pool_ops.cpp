// ONNX's pooling: MaxPool, AveragePool, GlobalAveragePool and GlobalMaxPool on 1-D and 2-D
// windows, mapped onto duet's max_pool2d / avg_pool2d / adaptive_avg_pool2d / reductions.
// duet's pools take PyTorch's symmetric padding of at most half the kernel; other pads
// (asymmetric, SAME_*, larger) pad the input first: -inf for MaxPool, zeros for
// AveragePool, whose divisor without count_include_pad then comes from pooling a mask.
#include <limits>
#include <string>
#include <vector>

#include "duet/ops/elementwise.h"
#include "duet/ops/pool.h"
#include "duet/ops/reduce.h"
#include "duet/ops/shape.h"
#include "graph/ir.h"
#include "onnx/import_nn_ops.h"

namespace duet::onnx::detail {

namespace {

using duet::detail::cat;

// True when duet's pool can take the window's padding itself (PyTorch's rule).
bool native_padding(const Window& w) {
  return w.symmetric() && w.pad_begin[0] <= w.kernel[0] / 2 && w.pad_begin[1] <= w.kernel[1] / 2;
}

bool read_ceil_mode(const NodeContext& n) {
  const int64_t ceil_mode = n.attr_int("ceil_mode", 0);
  if (ceil_mode != 0 && ceil_mode != 1)
    n.fail(cat("ceil_mode = ", ceil_mode, " (expected 0 or 1)"));
  return ceil_mode == 1;
}

// The output of a pool over an input padded by hand (pads duet's pools do not take). In ceil
// mode the last window must start inside the input or its leading pad (PyTorch's and ONNX
// Runtime's rule), which the padded input no longer tells apart: cut the windows past it.
// `in`: the unpadded input's (H, W).
Tensor cut_ceil_windows(Tensor y, const Window& w, Int2 in, bool ceil_mode) {
  if (!ceil_mode) return y;
  for (size_t a = 0; a < 2; ++a) {
    const int64_t span = (w.kernel[a] - 1) * w.dilation[a] + 1;
    const int64_t s = w.stride[a];
    int64_t out = (in[a] + w.pad_begin[a] + w.pad_end[a] - span + s - 1) / s + 1;
    if ((out - 1) * s >= in[a] + w.pad_begin[a]) --out;
    const auto axis = static_cast<int64_t>(a) + 2;
    if (out < y.size(axis)) y = slice(y, axis, 0, out);
  }
  return y;
}

// MaxPool-1 ... -12: X (N, C, [H,] W) -> Y and the optional Indices (int64).
std::vector<Tensor> convert_max_pool(NodeContext& n) {
  n.expect_attrs(
      {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"});
  const int64_t order = n.attr_int("storage_order", 0);
  if (order != 0 && order != 1) n.fail(cat("storage_order = ", order, " (expected 0 or 1)"));
  const Tensor& x = n.input(0);
  const size_t sp = spatial_rank(n, x, "X");
  Window win = read_window(n, sp, {}, true);
  // The spec pads SAME_* windows by their dilated extent, ONNX's reference by the kernel
  // size, and ONNX Runtime's output shapes follow neither.
  if (win.auto_pad.starts_with("SAME") && win.dilation != Int2{1, 1})
    n.fail(cat("auto_pad = ", win.auto_pad, " with dilations ", win.dilation.str(),
               " is not supported (ONNX Runtime and ONNX's reference disagree; use pads)"));
  Tensor x2 = lift_1d(x, sp);
  resolve_forward_pads(win, {x2.size(2), x2.size(3)});
  Pool2dOptions o{.kernel = win.kernel,
                  .stride = win.stride,
                  .padding = 0,
                  .dilation = win.dilation,
                  .ceil_mode = read_ceil_mode(n)};
  const bool native = native_padding(win);
  if (native) o.padding = win.pad_begin;
  const Tensor xin = native ? x2 : pad(x2, pad_list(win), -std::numeric_limits<double>::infinity());
  const Int2 in{x2.size(2), x2.size(3)};
  if (!output_requested(n, 1)) {
    const Tensor y = max_pool2d(xin, o);
    return {lower_1d(native ? y : cut_ceil_windows(y, win, in, o.ceil_mode), sp)};
  }
  // Indices: duet's are h * W + w in each plane of the pooled (maybe padded) input; ONNX's
  // count over the whole tensor, row-major (storage_order 0) or column-major within a plane.
  std::vector<Tensor> r = max_pool2d_with_indices(xin, o);
  if (!native)
    for (Tensor& t : r) t = cut_ceil_windows(t, win, in, o.ceil_mode);
  const auto i64 = [](int64_t v) { return Tensor::scalar(static_cast<double>(v), int64); };
  Tensor h = div(r[1], i64(xin.size(3)));
  Tensor w = sub(r[1], mul(h, i64(xin.size(3))));
  if (!native) {
    h = sub(h, i64(win.pad_begin[0]));
    w = sub(w, i64(win.pad_begin[1]));
  }
  const int64_t planes = x2.size(0) * x2.size(1), plane_size = in[0] * in[1];
  const Tensor flat = order == 0 ? add(mul(h, i64(in[1])), w) : add(mul(w, i64(in[0])), h);
  const Tensor base =
      mul(reshape(Tensor::arange(planes), {x2.size(0), x2.size(1), 1, 1}), i64(plane_size));
  return {lower_1d(r[0], sp), lower_1d(add(flat, base), sp)};
}

// AveragePool-7 ... -11 (dilations arrive in opset 19): X (N, C, [H,] W).
std::vector<Tensor> convert_avg_pool(NodeContext& n) {
  n.expect_attrs({"auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides"});
  const int64_t include = n.attr_int("count_include_pad", 0);
  if (include != 0 && include != 1)
    n.fail(cat("count_include_pad = ", include, " (expected 0 or 1)"));
  const Tensor& x = n.input(0);
  const size_t sp = spatial_rank(n, x, "X");
  Window win = read_window(n, sp, {}, false);
  Tensor x2 = lift_1d(x, sp);
  resolve_forward_pads(win, {x2.size(2), x2.size(3)});
  Pool2dOptions o{.kernel = win.kernel,
                  .stride = win.stride,
                  .padding = 0,
                  .ceil_mode = read_ceil_mode(n),
                  .count_include_pad = include == 1};
  if (native_padding(win)) {
    o.padding = win.pad_begin;
    return {lower_1d(avg_pool2d(x2, o), sp)};
  }
  // Zero-padded input, pooled without padding: every window divides by its size (clipped to
  // the padded input in ceil mode), which is count_include_pad = 1. For 0, divide by the
  // share of real elements instead: the same pool of a 1/0 mask, computed once on the host.
  const std::vector<int64_t> pads = pad_list(win);
  o.count_include_pad = true;
  Tensor y =
      cut_ceil_windows(avg_pool2d(pad(x2, pads), o), win, {x2.size(2), x2.size(3)}, o.ceil_mode);
  if (include == 0) {
    Tensor share;
    {
      duet::detail::PauseRecording pause;
      const Tensor ones = Tensor::ones({1, 1, x2.size(2), x2.size(3)}, x2.dtype(), x2.device());
      share =
          contiguous(cut_ceil_windows(avg_pool2d(pad(ones, pads), o), win, {x2.size(2), x2.size(3)},
                                      o.ceil_mode));  // (1, 1, OH, OW)
    }
    y = div(y, share);
  }
  return {lower_1d(y, sp)};
}

// GlobalAveragePool-1 / GlobalMaxPool-1: X (N, C, ...) -> (N, C, 1, ...).
std::vector<Tensor> convert_global_pool(NodeContext& n, bool average) {
  n.expect_attrs({});
  const Tensor& x = n.input(0);
  if (x.dim() < 3)
    n.fail(cat("X has shape ", shape_str(x.shape()), " (expected (N, C, d1, ...), rank >= 3)"));
  if (average && x.dim() == 4) return {adaptive_avg_pool2d(x, {1, 1})};  // as the zoo's models
  std::vector<int64_t> axes;
  for (int64_t a = 2; a < x.dim(); ++a) axes.push_back(a);
  return {average ? mean(x, axes, true) : max(x, axes, true)};
}

std::vector<Tensor> convert_global_average_pool(NodeContext& n) {
  return convert_global_pool(n, true);
}

std::vector<Tensor> convert_global_max_pool(NodeContext& n) {
  return convert_global_pool(n, false);
}

const OperatorDef kPoolOperators[] = {
    {"AveragePool", 7, convert_avg_pool, "1-D and 2-D (3-D is not supported)"},
    {"GlobalAveragePool", 1, convert_global_average_pool, ""},
    {"GlobalMaxPool", 1, convert_global_max_pool, ""},
    {"MaxPool", 1, convert_max_pool,
     "1-D and 2-D (3-D is not supported); auto_pad SAME_* with dilations != 1 is not "
     "supported"},
};

}  // namespace

std::span<const OperatorDef> pool_operators() {
  return kPoolOperators;
}

}  // namespace duet::onnx::detail
