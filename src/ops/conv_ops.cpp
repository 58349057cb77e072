// 2-D convolution and its two backward ops (each an op with its own kernel and gradient).
//
// attrs: stride, padding, dilation (2 ints each), groups; conv2d_backward_input adds
// input_shape, conv2d_backward_weight adds weight_shape.
#include "conv_kernels.h"
#include "duet/ops/conv.h"
#include "duet/ops/reduce.h"
#include "duet/source_location.h"
#include "geometry.h"
#include "ops/op_def.h"
#include "ops/op_samples.h"

namespace duet {
namespace {

Attrs conv_attrs(const Conv2dOptions& o) {
  Attrs a;
  a.set("stride", std::vector<int64_t>{o.stride[0], o.stride[1]})
      .set("padding", std::vector<int64_t>{o.padding[0], o.padding[1]})
      .set("dilation", std::vector<int64_t>{o.dilation[0], o.dilation[1]})
      .set("groups", o.groups);
  return a;
}

Conv2dOptions conv_options(const Attrs& a) {
  Conv2dOptions o;
  const auto& s = a.ints("stride");
  const auto& p = a.ints("padding");
  const auto& d = a.ints("dilation");
  o.stride = {s[0], s[1]};
  o.padding = {p[0], p[1]};
  o.dilation = {d[0], d[1]};
  o.groups = a.i("groups");
  return o;
}

// Validates x (N, C, H, W) against w (O, C / groups, KH, KW) and the attrs; returns the
// output shape (N, O, OH, OW). `xs`/`ws` name the tensors in messages.
Shape conv_output_shape(const char* op, const Shape& x, const Shape& w, const Attrs& a,
                        const char* xs, const char* ws) {
  DUET_CHECK(x.size() == 4, op, ": ", xs, " has shape ", shape_str(x), " (rank ", x.size(),
             "); expected rank 4 (N, C, H, W)");
  DUET_CHECK(w.size() == 4, op, ": ", ws, " has shape ", shape_str(w), " (rank ", w.size(),
             "); expected rank 4 (O, C / groups, KH, KW)");
  checked_numel(x, op);  // shapes from attributes (input_shape, weight_shape) too
  checked_numel(w, op);
  const auto& s = a.ints("stride");
  const auto& p = a.ints("padding");
  const auto& d = a.ints("dilation");
  const int64_t groups = a.i("groups");
  DUET_CHECK(s.size() == 2 && s[0] >= 1 && s[1] >= 1, op, ": stride ", shape_str(s),
             " (expected two values >= 1)");
  DUET_CHECK(p.size() == 2 && p[0] >= 0 && p[1] >= 0, op, ": padding ", shape_str(p),
             " (expected two values >= 0)");
  DUET_CHECK(d.size() == 2 && d[0] >= 1 && d[1] >= 1, op, ": dilation ", shape_str(d),
             " (expected two values >= 1)");
  DUET_CHECK(groups >= 1, op, ": groups=", groups, " (expected >= 1)");
  DUET_CHECK(w[0] % groups == 0, op, ": ", ws, " has shape ", shape_str(w), " with ", w[0],
             " output channels, not divisible by groups=", groups);
  int64_t cin = 0;
  DUET_CHECK(!__builtin_mul_overflow(w[1], groups, &cin) && x[1] == cin, op, ": ", xs,
             " has shape ", shape_str(x), " with ", x[1], " channels but ", ws, " has shape ",
             shape_str(w), " and groups=", groups, "; expected C == ", ws, ".shape[1] * groups");
  DUET_CHECK(w[2] >= 1 && w[3] >= 1, op, ": ", ws, " has shape ", shape_str(w),
             " (expected a kernel of at least 1x1)");
  Shape out{x[0], w[0], 0, 0};
  for (int i = 0; i < 2; ++i)
    out[2 + i] = kernels::conv_out_size(x[2 + i], w[2 + i], s[i], p[i], d[i], op);
  // conv_out_size checked x + 2p: the padded sizes fit.
  DUET_CHECK(out[2] >= 1 && out[3] >= 1, op, ": kernel ", shape_str({w[2], w[3]}), " (dilation ",
             shape_str(d), ") is larger than the padded input ",
             shape_str({x[2] + 2 * p[0], x[3] + 2 * p[1]}), " of ", xs, " with shape ",
             shape_str(x), " (padding ", shape_str(p), "); expected an output size >= 1");
  // The kernels' products (im2col buffers, GEMM sizes) are at most the multiply-adds.
  int64_t macs = checked_numel(out, op);
  const bool fits = !__builtin_mul_overflow(macs, w[1], &macs) &&
                    !__builtin_mul_overflow(macs, w[2], &macs) &&
                    !__builtin_mul_overflow(macs, w[3], &macs);
  DUET_CHECK(fits, op, ": ", xs, " ", shape_str(x), " with ", ws, " ", shape_str(w),
             " gives an output ", shape_str(out),
             " whose multiply-adds (numel(output) * C / groups * KH * KW) overflow int64");
  return out;
}

// Multiply-accumulates. conv2d: x (N, C, H, W), w (O, C/g, KH, KW) -> y (N, O, OH, OW):
// numel(y) * C/g * KH * KW. backward_input: grad_out (N, O, OH, OW), w -> the same products.
// backward_weight: grad_out, x -> gw (O, C/g, KH, KW): numel(grad_out) * C/g * KH * KW.
int64_t conv2d_macs(std::span<const TensorMeta> in, std::span<const TensorMeta> out,
                    const Attrs&) {
  const Shape& w = in[1].shape;
  return checked_numel({numel(out[0].shape), w[1], w[2], w[3]}, "conv2d: multiply-adds");
}
int64_t conv2d_backward_input_macs(std::span<const TensorMeta> in, std::span<const TensorMeta>,
                                   const Attrs&) {
  const Shape& w = in[1].shape;
  return checked_numel({numel(in[0].shape), w[1], w[2], w[3]},
                       "conv2d_backward_input: multiply-adds");
}
int64_t conv2d_backward_weight_macs(std::span<const TensorMeta> in,
                                    std::span<const TensorMeta> out, const Attrs&) {
  const Shape& gw = out[0].shape;
  return checked_numel({numel(in[0].shape), gw[1], gw[2], gw[3]},
                       "conv2d_backward_weight: multiply-adds");
}

// ---------------------------------------------------------------------------------------
// conv2d: x (N, C, H, W), w (O, C / groups, KH, KW) [, b (O)] -> (N, O, OH, OW)

std::vector<TensorMeta> conv2d_infer(const InferArgs& a) {
  DUET_CHECK(a.inputs.size() == 2 || a.inputs.size() == 3, "conv2d: got ", a.inputs.size(),
             " inputs, expected x, weight and an optional bias");
  infer::expect_floating(a, 0);
  infer::expect_same_dtype(a, 0, 1);
  const Shape& w = a.inputs[1].shape;
  Shape out = conv_output_shape("conv2d", a.inputs[0].shape, w, a.attrs, "x", "weight");
  if (a.inputs.size() == 3) {
    infer::expect_same_dtype(a, 0, 2);
    const Shape& b = a.inputs[2].shape;
    DUET_CHECK(b == Shape{w[0]}, "conv2d: bias has shape ", shape_str(b), " but weight has shape ",
               shape_str(w), " (expected bias of shape ", shape_str({w[0]}), ")");
  }
  return {{out, a.inputs[0].dtype, a.inputs[0].device}};
}

std::vector<Tensor> conv2d_grad(const GradArgs& g) {
  const Tensor& go = g.grad_outputs[0];
  const Conv2dOptions opts = conv_options(g.attrs);
  std::vector<Tensor> r(g.input_metas.size());
  if (g.needs_input_grad[0])
    r[0] = conv2d_backward_input(go, g.inputs[1], g.input_metas[0].shape, opts);
  if (g.needs_input_grad[1])
    r[1] = conv2d_backward_weight(go, g.inputs[0], g.input_metas[1].shape, opts);
  if (r.size() > 2 && g.needs_input_grad[2]) r[2] = sum(go, {0, 2, 3});
  return r;
}

// ---- test samples (src/ops/op_samples.h, tests/ops_table/) --------------------------------------

// x, weight [, bias]: same padding with bias; depthwise and strided; dilated, rectangular,
// grouped; a 1x1 kernel.
std::vector<OpSample> conv2d_samples() {
  using namespace samples;
  return {
      {.inputs = {normal({2, 3, 5, 5}), normal({4, 3, 3, 3}), normal({4})}, .attrs = conv(1, 1)},
      {.inputs = {normal({1, 4, 6, 6}), normal({4, 1, 3, 3})}, .attrs = conv(2, 0, 1, 4)},
      {.inputs = {normal({1, 4, 7, 5}), normal({6, 2, 2, 3}), normal({6})},
       .attrs = conv(1, 1, 2, 2)},
      {.inputs = {normal({2, 3, 3, 4}), normal({5, 3, 1, 1})}, .attrs = conv()}};
}
// (grad_out, weight) with input_shape: the gradient of each conv2d sample's x.
std::vector<OpSample> conv2d_backward_input_samples() {
  using namespace samples;
  return {{.inputs = {normal({2, 4, 5, 5}), normal({4, 3, 3, 3})},
           .attrs = conv(1, 1).set("input_shape", Shape{2, 3, 5, 5})},
          {.inputs = {normal({1, 4, 2, 2}), normal({4, 1, 3, 3})},
           .attrs = conv(2, 0, 1, 4).set("input_shape", Shape{1, 4, 6, 6})},
          {.inputs = {normal({1, 6, 7, 3}), normal({6, 2, 2, 3})},
           .attrs = conv(1, 1, 2, 2).set("input_shape", Shape{1, 4, 7, 5})}};
}
// (grad_out, x) with weight_shape.
std::vector<OpSample> conv2d_backward_weight_samples() {
  using namespace samples;
  return {{.inputs = {normal({2, 4, 5, 5}), normal({2, 3, 5, 5})},
           .attrs = conv(1, 1).set("weight_shape", Shape{4, 3, 3, 3})},
          {.inputs = {normal({1, 4, 2, 2}), normal({1, 4, 6, 6})},
           .attrs = conv(2, 0, 1, 4).set("weight_shape", Shape{4, 1, 3, 3})},
          {.inputs = {normal({1, 6, 7, 3}), normal({1, 4, 7, 5})},
           .attrs = conv(1, 1, 2, 2).set("weight_shape", Shape{6, 2, 2, 3})}};
}

}  // namespace

DUET_DEFINE_OP(conv2d_op, {.id = OpId::conv2d,
                           .num_inputs = -1,
                           .infer = conv2d_infer,
                           .grad = conv2d_grad,
                           .save_inputs = 0b011,
                           .kernels = {cpu_kernels::conv2d},
                           .workspace = {cpu_kernels::conv2d_workspace},
                           .macs = conv2d_macs,
                           .samples = conv2d_samples,
                           .native_low_precision = {kNativeBFloat16},
                           .autocast = AutocastPolicy::lower})

namespace {

// ---------------------------------------------------------------------------------------
// conv2d_backward_input: grad_out (N, O, OH, OW), w -> grad_x of attr input_shape.
// It is linear in each input: d/d grad_out = conv2d(gg, w), d/dw = backward_weight(grad_out, gg).

std::vector<TensorMeta> conv2d_backward_input_infer(const InferArgs& a) {
  const char* op = "conv2d_backward_input";
  infer::expect_floating(a, 0);
  infer::expect_same_dtype(a, 0, 1);
  const Shape in = a.attrs.ints("input_shape");
  const Shape expect =
      conv_output_shape(op, in, a.inputs[1].shape, a.attrs, "input_shape", "weight");
  DUET_CHECK(a.inputs[0].shape == expect, op, ": grad_out has shape ", shape_str(a.inputs[0].shape),
             " but input_shape ", shape_str(in), " and weight ", shape_str(a.inputs[1].shape),
             " give outputs of shape ", shape_str(expect), " (expected them equal)");
  return {{in, a.inputs[0].dtype, a.inputs[0].device}};
}

std::vector<Tensor> conv2d_backward_input_grad(const GradArgs& g) {
  const Tensor& gg = g.grad_outputs[0];  // like x
  const Conv2dOptions opts = conv_options(g.attrs);
  Tensor d_go, d_w;
  if (g.needs_input_grad[0]) d_go = conv2d(gg, g.inputs[1], Tensor(), opts);
  if (g.needs_input_grad[1])
    d_w = conv2d_backward_weight(g.inputs[0], gg, g.input_metas[1].shape, opts);
  return {d_go, d_w};
}

}  // namespace

DUET_DEFINE_OP(conv2d_backward_input_op, {.id = OpId::conv2d_backward_input,
                                          .num_inputs = 2,
                                          .traits = static_cast<uint32_t>(OpTrait::backward),
                                          .infer = conv2d_backward_input_infer,
                                          .grad = conv2d_backward_input_grad,
                                          .save_inputs = 0b11,
                                          .kernels = {cpu_kernels::conv2d_backward_input},
                                          .workspace = {cpu_kernels::conv2d_backward_input_workspace},
                                          .macs = conv2d_backward_input_macs,
                                          .samples = conv2d_backward_input_samples,
                                          .native_low_precision = {kNativeBFloat16}})

namespace {

// ---------------------------------------------------------------------------------------
// conv2d_backward_weight: grad_out (N, O, OH, OW), x -> grad_w of attr weight_shape.
// Linear in each input: d/d grad_out = conv2d(x, gg), d/dx = backward_input(grad_out, gg).

std::vector<TensorMeta> conv2d_backward_weight_infer(const InferArgs& a) {
  const char* op = "conv2d_backward_weight";
  infer::expect_floating(a, 0);
  infer::expect_same_dtype(a, 0, 1);
  const Shape ws = a.attrs.ints("weight_shape");
  const Shape expect = conv_output_shape(op, a.inputs[1].shape, ws, a.attrs, "x", "weight_shape");
  DUET_CHECK(a.inputs[0].shape == expect, op, ": grad_out has shape ", shape_str(a.inputs[0].shape),
             " but x ", shape_str(a.inputs[1].shape), " and weight_shape ", shape_str(ws),
             " give outputs of shape ", shape_str(expect), " (expected them equal)");
  return {{ws, a.inputs[0].dtype, a.inputs[0].device}};
}

std::vector<Tensor> conv2d_backward_weight_grad(const GradArgs& g) {
  const Tensor& gg = g.grad_outputs[0];  // like w
  const Conv2dOptions opts = conv_options(g.attrs);
  Tensor d_go, d_x;
  if (g.needs_input_grad[0]) d_go = conv2d(g.inputs[1], gg, Tensor(), opts);
  if (g.needs_input_grad[1])
    d_x = conv2d_backward_input(g.inputs[0], gg, g.input_metas[1].shape, opts);
  return {d_go, d_x};
}

}  // namespace

DUET_DEFINE_OP(conv2d_backward_weight_op, {.id = OpId::conv2d_backward_weight,
                                           .num_inputs = 2,
                                           .traits = static_cast<uint32_t>(OpTrait::backward),
                                           .infer = conv2d_backward_weight_infer,
                                           .grad = conv2d_backward_weight_grad,
                                           .save_inputs = 0b11,
                                           .kernels = {cpu_kernels::conv2d_backward_weight},
                                           .workspace = {cpu_kernels::conv2d_backward_weight_workspace},
                                           .macs = conv2d_backward_weight_macs,
                                           .samples = conv2d_backward_weight_samples,
                                           .native_low_precision = {kNativeBFloat16}})

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias,
              const Conv2dOptions& options, std::source_location loc) {
  LocationScope scope(loc);
  if (bias.defined()) return call_op1(conv2d_op(), {x, weight, bias}, conv_attrs(options));
  return call_op1(conv2d_op(), {x, weight}, conv_attrs(options));
}

Tensor conv2d_backward_input(const Tensor& grad_out, const Tensor& weight, const Shape& input_shape,
                             const Conv2dOptions& options, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(conv2d_backward_input_op(), {grad_out, weight},
                  conv_attrs(options).set("input_shape", input_shape));
}

Tensor conv2d_backward_weight(const Tensor& grad_out, const Tensor& x, const Shape& weight_shape,
                              const Conv2dOptions& options, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(conv2d_backward_weight_op(), {grad_out, x},
                  conv_attrs(options).set("weight_shape", weight_shape));
}

}  // namespace duet
