// ONNX's weighted layers: Conv, ConvTranspose, Gemm, MatMul and BatchNormalization (inference),
// mapped onto duet's conv2d / conv2d_backward_input / linear / matmul / batch_norm, so the
// graph passes treat an imported model like a zoo model (Gemm with transB = 1 is a linear,
// which epilogue fusion extends; an inference BatchNormalization after a Conv is folded
// into it).
#include <algorithm>
#include <string>
#include <vector>

#include "duet/ops/conv.h"
#include "duet/ops/elementwise.h"
#include "duet/ops/linalg.h"
#include "duet/ops/norm.h"
#include "duet/ops/shape.h"
#include "onnx/import_nn_ops.h"

namespace duet::onnx::detail {

namespace {

using duet::detail::cat;

constexpr int64_t kMaxSize = int64_t{1} << 40;  // spatial sizes, output_padding, output_shape

// Shape of the weight's kernel (axes 2...) as an ONNX list, checked against the input rank.
std::vector<int64_t> weight_kernel(const NodeContext& n, const Tensor& x, const Tensor& w) {
  if (w.dim() != x.dim())
    n.fail(cat("W has shape ", shape_str(w.shape()), " but X has shape ", shape_str(x.shape()),
               " (expected W of rank ", x.dim(), ")"));
  return std::vector<int64_t>(w.shape().begin() + 2, w.shape().end());
}

// group, at most X's channel count (so channel arithmetic cannot overflow).
int64_t read_group(const NodeContext& n, const Tensor& x) {
  const int64_t group = n.attr_int("group", 1);
  if (group < 1 || group > std::max<int64_t>(x.size(1), 1))
    n.fail(cat("group = ", group, " for X of shape ", shape_str(x.shape()),
               " (expected between 1 and X's channels)"));
  return group;
}

// B: an optional bias of shape (channels).
Tensor read_bias(const NodeContext& n, size_t i, int64_t channels) {
  if (!n.has_input(i)) return Tensor();
  const Tensor& b = n.input(i);
  if (b.shape() != Shape{channels})
    n.fail(cat("B has shape ", shape_str(b.shape()), " (expected (", channels, "))"));
  return b;
}

// Conv-1 ... Conv-11: X (N, C, [H,] W), W (M, C / group, [kH,] kW), B (M).
std::vector<Tensor> convert_conv(NodeContext& n) {
  n.expect_attrs({"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"});
  const Tensor& x = n.input(0);
  const Tensor& w = n.input(1);
  const size_t sp = spatial_rank(n, x, "X");
  Window win = read_window(n, sp, weight_kernel(n, x, w), true);
  const int64_t group = read_group(n, x);
  if (x.size(1) != w.size(1) * group || w.size(0) % group != 0)
    n.fail(cat("X has shape ", shape_str(x.shape()), " and W ", shape_str(w.shape()),
               " with group = ", group,
               " (expected X's channels = W.shape[1] * group and "
               "W.shape[0] divisible by group)"));
  const Tensor b = read_bias(n, 2, w.size(0));
  Tensor x2 = lift_1d(x, sp);
  resolve_forward_pads(win, {x2.size(2), x2.size(3)});
  Conv2dOptions o{.stride = win.stride, .padding = 0, .dilation = win.dilation, .groups = group};
  if (win.symmetric())
    o.padding = win.pad_begin;
  else
    x2 = pad(x2, pad_list(win));  // asymmetric: zeros first, then an unpadded conv
  return {lower_1d(conv2d(x2, lift_1d(w, sp), b, o), sp)};
}

// floor(v / 2), also for negative v (ONNX's reference computes pads with Python's //).
int64_t floor_half(int64_t v) {
  return v >= 0 ? v / 2 : -((-v + 1) / 2);
}

// ConvTranspose-1 ... -11: X (N, C, [H,] W), W (C, M / group, [kH,] kW), B (M). The full
// transposed convolution has s * (in - 1) + (k - 1) * d + 1 positions per axis; the output is
// its window [begin, begin + out), zeros where the window leaves it (output_padding,
// output_shape or SAME_* asking for more than the full output). begin comes from pads, or
// from the total padding full + output_padding - out as ONNX's reference splits it.
std::vector<Tensor> convert_conv_transpose(NodeContext& n) {
  n.expect_attrs({"auto_pad", "dilations", "group", "kernel_shape", "output_padding",
                  "output_shape", "pads", "strides"});
  const Tensor& x = n.input(0);
  const Tensor& w = n.input(1);
  const size_t sp = spatial_rank(n, x, "X");
  const Window win = read_window(n, sp, weight_kernel(n, x, w), true);
  const int64_t group = read_group(n, x);
  if (x.size(1) != w.size(0) || w.size(0) % group != 0)
    n.fail(cat("X has shape ", shape_str(x.shape()), " and W ", shape_str(w.shape()),
               " with group = ", group,
               " (expected X's channels = W.shape[0], divisible by "
               "group)"));
  const int64_t out_channels = w.size(1) * group;
  const Tensor b = read_bias(n, 2, out_channels);

  std::vector<int64_t> out_pad(sp, 0);
  if (n.has_attr("output_padding")) {
    out_pad = n.attr_ints("output_padding");
    if (out_pad.size() != sp)
      n.fail(cat("output_padding has ", out_pad.size(), " values (expected ", sp, ")"));
  }
  std::vector<int64_t> out_shape;
  if (n.has_attr("output_shape")) {
    out_shape = n.attr_ints("output_shape");
    if (out_shape.size() == sp + 2) out_shape.erase(out_shape.begin(), out_shape.begin() + 2);
    if (out_shape.size() != sp)
      n.fail(cat("output_shape has ", out_shape.size(), " values (expected ", sp, ")"));
  }
  const Tensor x2 = lift_1d(x, sp);
  Int2 full, begin, out;
  for (size_t a = 0; a < 2; ++a) {
    const size_t o = sp == 1 ? 0 : a;  // the ONNX axis of 2-D axis a (1-D: a == 1)
    const bool onnx_axis = sp == 2 || a == 1;
    const int64_t in = x2.size(static_cast<int64_t>(a) + 2);
    if (in < 1 || in > kMaxSize)
      n.fail(cat("X has shape ", shape_str(x.shape()), " (expected spatial sizes in [1, ", kMaxSize,
                 "])"));
    const int64_t span = (win.kernel[a] - 1) * win.dilation[a] + 1;  // <= 2^40
    full[a] = win.stride[a] * (in - 1) + span;                       // < 2^62
    const int64_t op = onnx_axis ? out_pad[o] : 0;
    if (op < 0 || op > kMaxSize)
      n.fail(cat("output_padding = ", op, " (expected in [0, ", kMaxSize, "])"));
    int64_t total = 0;  // positions cut from the full output (+ output_padding)
    bool upper = win.auto_pad == "SAME_UPPER";
    if (onnx_axis && !out_shape.empty()) {
      out[a] = out_shape[o];
      total = full[a] + op - out[a];
    } else if (win.auto_pad == "SAME_UPPER" || win.auto_pad == "SAME_LOWER") {
      out[a] = in * win.stride[a];
      total = full[a] + op - out[a];
    } else {
      begin[a] = win.pad_begin[a];
      out[a] = full[a] + op - win.pad_begin[a] - win.pad_end[a];
    }
    if ((onnx_axis && !out_shape.empty()) || win.auto_pad == "SAME_UPPER" ||
        win.auto_pad == "SAME_LOWER")
      begin[a] = upper ? floor_half(total) : total - floor_half(total);  // < 0: zeros first
    if (out[a] < 1 || out[a] > full[a] + kMaxSize)
      n.fail(cat("the output would have ", out[a], " positions on spatial axis ", o, " (from ", in,
                 " inputs; expected between 1 and ", full[a] + kMaxSize, ")"));
  }
  Conv2dOptions opt{.stride = win.stride, .padding = 0, .dilation = win.dilation, .groups = group};
  const Tensor w2 = lift_1d(w, sp);
  // One op when conv2d's padding reproduces the window: padding = begin and the forward conv
  // of the output shape gives X's shape.
  bool direct = true;
  for (size_t a = 0; a < 2; ++a) {
    const int64_t span = (win.kernel[a] - 1) * win.dilation[a] + 1;
    const int64_t in = x2.size(static_cast<int64_t>(a) + 2);
    const int64_t padded = out[a] + 2 * begin[a];
    direct = direct && begin[a] >= 0 && padded >= span && (padded - span) / win.stride[a] + 1 == in;
  }
  Tensor y;
  if (direct) {
    opt.padding = begin;
    y = conv2d_backward_input(x2, w2, {x2.size(0), out_channels, out[0], out[1]}, opt);
  } else {
    y = conv2d_backward_input(x2, w2, {x2.size(0), out_channels, full[0], full[1]}, opt);
    std::vector<int64_t> zeros(4, 0);  // duet::pad order: W before, W after, H before, H after
    for (size_t a = 0; a < 2; ++a) {
      const int64_t lo = std::max<int64_t>(begin[a], 0), hi = std::min(full[a], begin[a] + out[a]);
      if (hi <= lo)
        n.fail(cat("the output window [", begin[a], ", ", begin[a] + out[a],
                   ") misses the transposed convolution's ", full[a],
                   " positions (not supported)"));
      if (lo > 0 || hi < full[a]) y = slice(y, static_cast<int64_t>(a) + 2, lo, hi);
      zeros[a == 0 ? 2 : 0] = lo - begin[a];
      zeros[a == 0 ? 3 : 1] = begin[a] + out[a] - hi;
    }
    if (zeros != std::vector<int64_t>(4, 0)) y = pad(y, zeros);
  }
  if (b.defined()) y = add(y, reshape(b, {out_channels, 1, 1}));
  return {lower_1d(y, sp)};
}

// Gemm-7 ... -13: Y = alpha * A' B' + beta * C, A' = transA ? A^T : A (M, K), B' (K, N),
// C optional (opset 11), broadcast to (M, N).
std::vector<Tensor> convert_gemm(NodeContext& n) {
  n.expect_attrs({"alpha", "beta", "transA", "transB"});
  const double alpha = n.attr_float("alpha", 1.0);
  const double beta = n.attr_float("beta", 1.0);
  const int64_t trans_a = n.attr_int("transA", 0);
  const int64_t trans_b = n.attr_int("transB", 0);
  if ((trans_a != 0 && trans_a != 1) || (trans_b != 0 && trans_b != 1))
    n.fail(cat("transA = ", trans_a, ", transB = ", trans_b, " (expected 0 or 1)"));
  const Tensor& a_in = n.input(0);
  const Tensor& b_in = n.input(1);
  if (a_in.dim() != 2 || b_in.dim() != 2)
    n.fail(cat("A has shape ", shape_str(a_in.shape()), " and B ", shape_str(b_in.shape()),
               " (expected matrices)"));
  const Tensor a = trans_a ? transpose(a_in, 0, 1) : a_in;
  const int64_t k = a.size(1);
  const int64_t cols = trans_b ? b_in.size(0) : b_in.size(1);
  if ((trans_b ? b_in.size(1) : b_in.size(0)) != k)
    n.fail(cat("A has shape ", shape_str(a_in.shape()), " (transA = ", trans_a, ") and B ",
               shape_str(b_in.shape()), " (transB = ", trans_b,
               "): the inner dimensions differ (expected A' (M, K) and B' (K, N))"));
  Tensor c = n.has_input(2) ? n.input(2) : Tensor();
  if (c.defined() && beta == 0.0) c = Tensor();
  // The common case (a PyTorch Linear: transB = 1, a bias vector): duet's linear, so the
  // graph passes fuse the activation after it.
  if (alpha == 1.0 && (!c.defined() || beta == 1.0)) {
    Tensor bias;
    if (c.defined() && (c.shape() == Shape{cols} || c.shape() == Shape{1, cols}))
      bias = reshape(c, {cols});
    if (!c.defined() || bias.defined())
      return {linear(a, trans_b ? b_in : transpose(b_in, 0, 1), bias)};
  }
  Tensor y = matmul(a, trans_b ? transpose(b_in, 0, 1) : b_in);
  if (alpha != 1.0) y = mul(y, alpha);
  if (c.defined()) y = add(y, beta == 1.0 ? c : mul(c, beta));
  return {y};
}

// MatMul-1 ... -13: numpy matmul (batch dimensions broadcast, 1-D operands promoted).
std::vector<Tensor> convert_matmul(NodeContext& n) {
  n.expect_attrs({});
  const Tensor& a = n.input(0);
  const Tensor& b = n.input(1);
  if (a.dim() < 1 || b.dim() < 1)
    n.fail(cat("A has shape ", shape_str(a.shape()), " and B ", shape_str(b.shape()),
               " (expected rank >= 1)"));
  return {matmul(a, b)};
}

// BatchNormalization-7 ... -15, inference: X (N, C, ...), scale, B, mean, var (C). duet's eval
// batch_norm records scale / shift vectors and a channel_affine, which the graph folds into
// a preceding conv.
std::vector<Tensor> convert_batch_norm(NodeContext& n) {
  n.expect_attrs({"epsilon", "momentum", "spatial", "training_mode"});
  const int64_t training = n.attr_int("training_mode", 0);
  if (training != 0)
    n.fail(cat("training_mode = ", training, " is not supported (inference only: 0)"));
  const int64_t spatial = n.attr_int("spatial", 1);
  if (spatial != 1)
    n.fail(cat("spatial = ", spatial, " is not supported (only 1: statistics per channel)"));
  for (size_t i = 1; i < n.num_outputs(); ++i)
    if (output_requested(n, i))
      n.fail(cat("output ", i, " ('", n.node().output(static_cast<int>(i)),
                 "') is not supported (the running statistics exist in training mode only)"));
  const double eps = n.attr_float("epsilon", 1e-5);
  if (!(eps > 0.0)) n.fail(cat("epsilon = ", eps, " (expected > 0)"));
  const Tensor& x = n.input(0);
  if (x.dim() < 2)
    n.fail(cat("X has shape ", shape_str(x.shape()), " (expected (N, C, ...), rank >= 2)"));
  const int64_t c = x.size(1);
  const char* names[] = {"X", "scale", "B", "input_mean", "input_var"};
  for (size_t i = 1; i < 5; ++i)
    if (n.input(i).shape() != Shape{c})
      n.fail(cat(names[i], " has shape ", shape_str(n.input(i).shape()), " but X ",
                 shape_str(x.shape()), " has ", c, " channels (expected (", c, "))"));
  return {batch_norm(x, n.input(1), n.input(2), n.input(3), n.input(4), false, 0.1, eps)};
}

const OperatorDef kConvOperators[] = {
    {"BatchNormalization", 7, convert_batch_norm,
     "inference only (training_mode = 1 and the running-statistics outputs are not supported); "
     "spatial = 1 only"},
    {"Conv", 1, convert_conv, "1-D and 2-D (3-D is not supported)"},
    {"ConvTranspose", 1, convert_conv_transpose, "1-D and 2-D (3-D is not supported)"},
    {"Gemm", 7, convert_gemm, ""},
    {"MatMul", 1, convert_matmul, ""},
};

}  // namespace

std::span<const OperatorDef> conv_operators() {
  return kConvOperators;
}

}  // namespace duet::onnx::detail
