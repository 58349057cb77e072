// The blocked-channel (nChw16c) ops of CPU graph inference: to_nchwc, from_nchwc,
// nchwc_pack_weight, conv2d_nchwc, depthwise_conv2d_nchwc, max_pool2d_nchwc, avg_pool2d_nchwc,
// global_avg_pool_nchwc. Layouts and attrs: kernels/nchwc_kernels.h.
//
// Only the graph's layout pass (src/graph/pass_nchwc_layout.cpp) emits them, in eval graphs;
// they have no gradient. Their shape rules run the plain op's rule (conv2d, max_pool2d,
// avg_pool2d) on the logical shapes, so the two can never disagree about output sizes, and
// they own the checks of the blocked shapes: a wrong block size, a channel count that does not
// fit its blocks, a packed weight that does not match its input.
#include "activations.h"
#include "nchwc_kernels.h"
#include "ops/op_def.h"
#include "ops/op_samples.h"

namespace duet {
namespace {

using kernels::kNchwcBlock;
using kernels::nchwc_blocks;
constexpr int64_t B = kNchwcBlock;

TensorMeta blocked(Shape s, const TensorMeta& like) {
  return {std::move(s), like.dtype, like.device, Layout::nchw16c};
}

// x must be (N, Cb, H, W, 16).
void expect_blocked(const InferArgs& a, int i, const char* what) {
  infer::expect_floating(a, i);
  const Shape& s = a.inputs[i].shape;
  DUET_CHECK(s.size() == 5 && s[4] == B, a.op, ": ", what, " has shape ", shape_str(s),
             " (expected a blocked activation (N, C / 16, H, W, 16))");
}

// A plain op's shape rule on logical shapes; its errors name this op.
std::vector<TensorMeta> base_infer(OpId base, const InferArgs& a, std::vector<TensorMeta> in) {
  const OpDef& d = op_def(base);
  try {
    return d.infer({d.name.c_str(), in, a.attrs});
  } catch (const Error& e) {
    throw Error(detail::cat(a.op, ": ", e.what()));
  }
}

// ---- to_nchwc / from_nchwc ---------------------------------------------------------------------

// x (N, C, H, W) -> (N, Cb, H, W, 16)
std::vector<TensorMeta> to_nchwc_infer(const InferArgs& a) {
  infer::expect_floating(a, 0);
  infer::expect_rank(a, 0, 4, "x");
  const Shape& s = a.inputs[0].shape;
  return {blocked({s[0], nchwc_blocks(s[1]), s[2], s[3], B}, a.inputs[0])};
}

// x (N, Cb, H, W, 16); channels -> (N, channels, H, W)
std::vector<TensorMeta> from_nchwc_infer(const InferArgs& a) {
  expect_blocked(a, 0, "x");
  const Shape& s = a.inputs[0].shape;
  const int64_t c = a.attrs.i("channels");
  if (c < 1 || nchwc_blocks(c) != s[1]) {
    // The channel counts that fill s[1] blocks: (16 (s[1] - 1), 16 s[1]], when 16 s[1] fits.
    int64_t hi = 0;
    const std::string range = s[1] >= 1 && !__builtin_mul_overflow(s[1], B, &hi)
                                  ? detail::cat(hi - B + 1, " to ", hi)
                                  : detail::cat("more than 16 * ", s[1] - 1);
    throw Error(detail::cat(a.op, ": channels=", c, " for x of shape ", shape_str(s), " (expected ",
                            range, " channels in ", s[1], " blocks of 16)"));
  }
  return {{{s[0], c, s[2], s[3]}, a.inputs[0].dtype, a.inputs[0].device}};
}

// ---- nchwc_pack_weight ------------------------------------------------------------------------

enum class Format { dense, plain_input, depthwise };

Format parse_format(const InferArgs& a) {
  const std::string& f = a.attrs.s("format");
  if (f == "dense") return Format::dense;
  if (f == "plain_input") return Format::plain_input;
  if (f == "depthwise") return Format::depthwise;
  throw Error(detail::cat(a.op, ": format ", detail::quoted_excerpt(f),
                          " (expected \"dense\", \"plain_input\" or \"depthwise\")"));
}

// The packed shape of a weight w (O, C / g, KH, KW) in `format`.
Shape packed_shape(const InferArgs& a, const Shape& w, Format f) {
  if (f == Format::depthwise) {
    DUET_CHECK(w[1] == 1, a.op, ": depthwise weight has shape ", shape_str(w),
               " (expected (C, 1, KH, KW))");
    return {nchwc_blocks(w[0]), w[2], w[3], B};
  }
  if (f == Format::plain_input) return {nchwc_blocks(w[0]), w[1], w[2], w[3], B};
  return {nchwc_blocks(w[0]), nchwc_blocks(w[1]), w[2], w[3], B, B};
}

std::vector<TensorMeta> pack_weight_infer(const InferArgs& a) {
  infer::expect_floating(a, 0);
  infer::expect_rank(a, 0, 4, "weight");
  const Shape& w = a.inputs[0].shape;
  for (int64_t d : w)
    DUET_CHECK(d >= 1, a.op, ": weight has shape ", shape_str(w), " (expected no empty axis)");
  return {{packed_shape(a, w, parse_format(a)), a.inputs[0].dtype, a.inputs[0].device}};
}

// ---- conv2d_nchwc / depthwise_conv2d_nchwc
// -------------------------------------------------------

size_t expected_conv_inputs(const InferArgs& a) {
  const size_t n = 2 + (a.attrs.b("has_bias") ? 1 : 0) + (a.attrs.b("has_residual") ? 1 : 0);
  DUET_CHECK(a.inputs.size() == n, a.op, ": got ", a.inputs.size(), " inputs, expected ", n,
             " (x, packed weight", a.attrs.b("has_bias") ? ", bias" : "",
             a.attrs.b("has_residual") ? ", residual" : "", " as has_bias / has_residual say)");
  kernels::parse_activation(a.attrs.s("activation"), a.op);
  for (size_t i = 1; i < n; ++i) infer::expect_same_dtype(a, 0, static_cast<int>(i));
  return n;
}

// Checks bias and residual against the output; returns the output.
std::vector<TensorMeta> conv_epilogue_infer(const InferArgs& a, int64_t o, Shape out) {
  size_t next = 2;
  if (a.attrs.b("has_bias")) {
    const Shape& b = a.inputs[next++].shape;
    DUET_CHECK(b == Shape{o}, a.op, ": bias has shape ", shape_str(b), " (expected (", o, "))");
  }
  if (a.attrs.b("has_residual")) {
    const Shape& r = a.inputs[next].shape;
    DUET_CHECK(r == out, a.op, ": residual has shape ", shape_str(r), " but the convolution gives ",
               shape_str(out), " (expected equal shapes)");
  }
  return {blocked(std::move(out), a.inputs[0])};
}

// Output (N, Ob, OH, OW, 16) from conv2d's rule on x (N, C, H, W), w (O, C, KH, KW).
Shape conv_blocked_out(const InferArgs& a, const Shape& x, const Shape& w) {
  const Shape s = base_infer(OpId::conv2d, a,
                             {{x, a.inputs[0].dtype, a.inputs[0].device},
                              {w, a.inputs[0].dtype, a.inputs[0].device}})[0]
                      .shape;
  return {s[0], nchwc_blocks(s[1]), s[2], s[3], B};
}

std::vector<TensorMeta> conv2d_nchwc_infer(const InferArgs& a) {
  expected_conv_inputs(a);
  const Format f = parse_format(a);
  DUET_CHECK(f != Format::depthwise, a.op,
             ": format \"depthwise\" (expected \"dense\" or \"plain_input\"; depthwise "
             "convolutions are depthwise_conv2d_nchwc)");
  DUET_CHECK(a.attrs.i("groups") == 1, a.op, ": groups=", a.attrs.i("groups"), " (expected 1)");
  const int64_t o = a.attrs.i("out_channels");
  const Shape& x = a.inputs[0].shape;
  const Shape& wp = a.inputs[1].shape;
  Shape xl, wl;  // logical shapes
  if (f == Format::dense) {
    expect_blocked(a, 0, "x");
    DUET_CHECK(wp.size() == 6 && wp[4] == B && wp[5] == B && wp[1] == x[1] && o >= 1 &&
                   nchwc_blocks(o) == wp[0],
               a.op, ": packed weight of shape ", shape_str(wp), " for x ", shape_str(x),
               " and out_channels=", o, " (expected (", nchwc_blocks(std::max<int64_t>(o, 1)), ", ",
               x[1], ", KH, KW, 16, 16))");
    const int64_t c = checked_mul(x[1], B, "conv2d_nchwc: input channels (blocks * 16)");
    xl = {x[0], c, x[2], x[3]};
    wl = {o, c, wp[2], wp[3]};
  } else {
    infer::expect_floating(a, 0);
    infer::expect_rank(a, 0, 4, "x");
    DUET_CHECK(wp.size() == 5 && wp[4] == B && wp[1] == x[1] && o >= 1 && nchwc_blocks(o) == wp[0],
               a.op, ": packed weight of shape ", shape_str(wp), " for x ", shape_str(x),
               " and out_channels=", o, " (expected (", nchwc_blocks(std::max<int64_t>(o, 1)), ", ",
               x[1], ", KH, KW, 16))");
    xl = x;
    wl = {o, x[1], wp[2], wp[3]};
  }
  return conv_epilogue_infer(a, o, conv_blocked_out(a, xl, wl));
}

std::vector<TensorMeta> depthwise_conv2d_nchwc_infer(const InferArgs& a) {
  expected_conv_inputs(a);
  expect_blocked(a, 0, "x");
  const Shape& x = a.inputs[0].shape;
  const Shape& wp = a.inputs[1].shape;
  const int64_t c = a.attrs.i("out_channels");
  DUET_CHECK(c >= 1 && nchwc_blocks(c) == x[1] && a.attrs.i("groups") == c, a.op,
             ": out_channels=", c, ", groups=", a.attrs.i("groups"), " for x ", shape_str(x),
             " (expected groups == out_channels, in ", x[1], " blocks of 16)");
  DUET_CHECK(wp.size() == 4 && wp[0] == x[1] && wp[3] == B, a.op, ": packed weight of shape ",
             shape_str(wp), " for x ", shape_str(x), " (expected (", x[1], ", KH, KW, 16))");
  const Shape xl{x[0], c, x[2], x[3]}, wl{c, 1, wp[1], wp[2]};
  return conv_epilogue_infer(a, c, conv_blocked_out(a, xl, wl));
}

// N * O * OH * OW * C/g * KH * KW on the padded channels (the work the kernel does).
int64_t conv2d_nchwc_macs(std::span<const TensorMeta> in, std::span<const TensorMeta> out,
                          const Attrs&) {
  const Shape& y = out[0].shape;
  const Shape& wp = in[1].shape;
  Shape per_out = {wp[2], wp[3]};  // C * KH * KW (padded)
  if (wp.size() == 6) per_out.insert(per_out.end(), {wp[1], B});
  if (wp.size() == 5) per_out.push_back(wp[1]);
  per_out.push_back(numel(y));
  return checked_numel(per_out, "conv2d_nchwc: multiply-adds");
}
int64_t depthwise_conv2d_nchwc_macs(std::span<const TensorMeta> in, std::span<const TensorMeta> out,
                                    const Attrs&) {
  const Shape& y = out[0].shape;
  const Shape& wp = in[1].shape;
  return checked_numel({numel(y), wp[1], wp[2]}, "depthwise_conv2d_nchwc: multiply-adds");
}

// ---- pooling ------------------------------------------------------------------------------------

// The plain pool's rule on (N, Cb * 16, H, W).
std::vector<TensorMeta> pool_infer(OpId base, const InferArgs& a) {
  expect_blocked(a, 0, "x");
  const Shape& x = a.inputs[0].shape;
  const Shape s =
      base_infer(base, a,
                 {{{x[0], checked_mul(x[1], B, "pooling: channels (blocks * 16)"), x[2], x[3]},
                   a.inputs[0].dtype,
                   a.inputs[0].device}})[0]
          .shape;
  return {blocked({x[0], x[1], s[2], s[3], B}, a.inputs[0])};
}
std::vector<TensorMeta> max_pool2d_nchwc_infer(const InferArgs& a) {
  return pool_infer(OpId::max_pool2d, a);
}
std::vector<TensorMeta> avg_pool2d_nchwc_infer(const InferArgs& a) {
  return pool_infer(OpId::avg_pool2d, a);
}
std::vector<TensorMeta> global_avg_pool_nchwc_infer(const InferArgs& a) {
  expect_blocked(a, 0, "x");
  const Shape& x = a.inputs[0].shape;
  DUET_CHECK(x[2] >= 1 && x[3] >= 1, a.op, ": x has shape ", shape_str(x), " (expected H, W >= 1)");
  return {blocked({x[0], x[1], 1, 1, B}, a.inputs[0])};
}

// ---- test samples (src/ops/op_samples.h, tests/ops_table/) --------------------------------------
// Blocked inputs are random in every lane, padding included: the float32 and float64 paths must
// agree whatever the padding holds. Channel counts that do not fill their last block (20, 5).

Attrs conv_sample(int64_t stride, int64_t pad, int64_t dilation, int64_t out, const char* format,
                  const char* act, bool bias, bool residual, int64_t groups = 1) {
  return samples::conv(stride, pad, dilation, groups)
      .set("format", std::string(format))
      .set("out_channels", out)
      .set("activation", std::string(act))
      .set("has_bias", bias)
      .set("has_residual", residual);
}

std::vector<OpSample> to_nchwc_samples() {
  using namespace samples;
  return {{.inputs = {normal({2, 5, 3, 4})}},
          {.inputs = {normal({1, 32, 2, 3})}},
          {.inputs = {normal({1, 17, 1, 1})}},
          {.inputs = {normal({0, 3, 2, 2})}}};
}
std::vector<OpSample> from_nchwc_samples() {
  using namespace samples;
  return {{.inputs = {normal({2, 1, 3, 4, 16})}, .attrs = Attrs().set("channels", int64_t{5})},
          {.inputs = {normal({1, 2, 2, 3, 16})}, .attrs = Attrs().set("channels", int64_t{32})},
          {.inputs = {normal({1, 2, 1, 1, 16})}, .attrs = Attrs().set("channels", int64_t{17})}};
}
std::vector<OpSample> pack_weight_samples() {
  using namespace samples;
  const auto fmt = [](const char* f) { return Attrs().set("format", std::string(f)); };
  return {{.inputs = {normal({20, 5, 3, 3})}, .attrs = fmt("dense")},
          {.inputs = {normal({32, 16, 1, 1})}, .attrs = fmt("dense")},
          {.inputs = {normal({20, 3, 7, 7})}, .attrs = fmt("plain_input")},
          {.inputs = {normal({20, 1, 3, 3})}, .attrs = fmt("depthwise")},
          {.inputs = {normal({32, 1, 5, 5})}, .attrs = fmt("depthwise")}};
}
// 3x3 same with bias and relu; strided with residual; 1x1 (pointwise) with relu6; dilated,
// rectangular input, silu; the plain-input stem (7x7 / 2 and 3x3 / 2).
std::vector<OpSample> conv2d_nchwc_samples() {
  using namespace samples;
  return {
      {.inputs = {normal({2, 2, 5, 6, 16}), normal({2, 2, 3, 3, 16, 16}), normal({20})},
       .attrs = conv_sample(1, 1, 1, 20, "dense", "relu", true, false)},
      {.inputs = {normal({1, 1, 7, 7, 16}), normal({1, 1, 3, 3, 16, 16}), normal({1, 1, 4, 4, 16})},
       .attrs = conv_sample(2, 1, 1, 16, "dense", "none", false, true)},
      {.inputs = {normal({2, 3, 4, 5, 16}), normal({3, 3, 1, 1, 16, 16}), normal({40})},
       .attrs = conv_sample(1, 0, 1, 40, "dense", "relu6", true, false)},
      {.inputs = {normal({1, 1, 6, 9, 16}), normal({1, 1, 3, 3, 16, 16}), normal({5})},
       .attrs = conv_sample(1, 2, 2, 5, "dense", "silu", true, false)},
      {.inputs = {normal({2, 3, 11, 12}), normal({2, 3, 7, 7, 16}), normal({20})},
       .attrs = conv_sample(2, 3, 1, 20, "plain_input", "relu", true, false)},
      {.inputs = {normal({1, 1, 9, 8}), normal({1, 1, 3, 3, 16}), normal({1, 1, 5, 4, 16})},
       .attrs = conv_sample(2, 1, 1, 8, "plain_input", "hardswish", false, true)}};
}
// 3x3 / 1 and / 2, 5x5 / 2 (EfficientNet), with bias and each in-register or array activation.
std::vector<OpSample> depthwise_conv2d_nchwc_samples() {
  using namespace samples;
  return {{.inputs = {normal({2, 2, 5, 6, 16}), normal({2, 3, 3, 16}), normal({20})},
           .attrs = conv_sample(1, 1, 1, 20, "depthwise", "relu6", true, false, 20)},
          {.inputs = {normal({1, 1, 7, 8, 16}), normal({1, 3, 3, 16})},
           .attrs = conv_sample(2, 1, 1, 16, "depthwise", "silu", false, false, 16)},
          {.inputs = {normal({1, 2, 9, 9, 16}), normal({2, 5, 5, 16}), normal({32}),
                      normal({1, 2, 5, 5, 16})},
           .attrs = conv_sample(2, 2, 1, 32, "depthwise", "none", true, true, 32)}};
}
Attrs pool_sample(int64_t k, int64_t s, int64_t p, bool ceil_mode) {
  using Ints = std::vector<int64_t>;
  return Attrs()
      .set("kernel", Ints{k, k})
      .set("stride", Ints{s, s})
      .set("padding", Ints{p, p})
      .set("ceil_mode", ceil_mode);
}
std::vector<OpSample> max_pool2d_nchwc_samples() {
  using namespace samples;
  using Ints = std::vector<int64_t>;
  return {{.inputs = {normal({1, 2, 7, 7, 16})},
           .attrs = pool_sample(3, 2, 1, false).set("dilation", Ints{1, 1})},
          {.inputs = {normal({2, 1, 5, 5, 16})},
           .attrs = pool_sample(2, 2, 0, true).set("dilation", Ints{1, 1})},
          {.inputs = {normal({1, 1, 4, 6, 16})},
           .attrs = pool_sample(2, 1, 0, false).set("dilation", Ints{1, 1})}};
}
std::vector<OpSample> avg_pool2d_nchwc_samples() {
  using namespace samples;
  return {{.inputs = {normal({1, 2, 7, 7, 16})},
           .attrs = pool_sample(3, 2, 1, false).set("count_include_pad", true)},
          {.inputs = {normal({2, 1, 5, 5, 16})},
           .attrs = pool_sample(3, 2, 1, true).set("count_include_pad", false)},
          {.inputs = {normal({1, 1, 4, 6, 16})},
           .attrs = pool_sample(2, 2, 0, false).set("count_include_pad", true)}};
}
std::vector<OpSample> global_avg_pool_nchwc_samples() {
  using namespace samples;
  return {{.inputs = {normal({2, 2, 7, 7, 16})}},
          {.inputs = {normal({1, 1, 1, 1, 16})}},
          {.inputs = {normal({1, 3, 3, 5, 16})}}};
}

}  // namespace

DUET_DEFINE_OP(to_nchwc_op, {.id = OpId::to_nchwc,
                             .traits = static_cast<uint32_t>(OpTrait::cpu_only),
                             .infer = to_nchwc_infer,
                             .kernels = {cpu_kernels::to_nchwc},
                             .samples = to_nchwc_samples,
                             .low_precision = false})
DUET_DEFINE_OP(from_nchwc_op, {.id = OpId::from_nchwc,
                               .traits = static_cast<uint32_t>(OpTrait::cpu_only),
                               .infer = from_nchwc_infer,
                               .kernels = {cpu_kernels::from_nchwc},
                               .samples = from_nchwc_samples,
                               .low_precision = false})
DUET_DEFINE_OP(nchwc_pack_weight_op, {.id = OpId::nchwc_pack_weight,
                                      .traits = static_cast<uint32_t>(OpTrait::cpu_only),
                                      .infer = pack_weight_infer,
                                      .kernels = {cpu_kernels::nchwc_pack_weight},
                                      .samples = pack_weight_samples,
                                      .low_precision = false})
DUET_DEFINE_OP(conv2d_nchwc_op, {.id = OpId::conv2d_nchwc,
                                 .num_inputs = -1,
                                 .traits = OpTrait::fused | OpTrait::cpu_only,
                                 .infer = conv2d_nchwc_infer,
                                 .kernels = {cpu_kernels::conv2d_nchwc},
                                 .macs = conv2d_nchwc_macs,
                                 .samples = conv2d_nchwc_samples,
                                 .low_precision = false})
DUET_DEFINE_OP(depthwise_conv2d_nchwc_op, {.id = OpId::depthwise_conv2d_nchwc,
                                           .num_inputs = -1,
                                           .traits = OpTrait::fused | OpTrait::cpu_only,
                                           .infer = depthwise_conv2d_nchwc_infer,
                                           .kernels = {cpu_kernels::depthwise_conv2d_nchwc},
                                           .macs = depthwise_conv2d_nchwc_macs,
                                           .samples = depthwise_conv2d_nchwc_samples,
                                           .low_precision = false})
DUET_DEFINE_OP(max_pool2d_nchwc_op, {.id = OpId::max_pool2d_nchwc,
                                     .traits = static_cast<uint32_t>(OpTrait::cpu_only),
                                     .infer = max_pool2d_nchwc_infer,
                                     .kernels = {cpu_kernels::max_pool2d_nchwc},
                                     .samples = max_pool2d_nchwc_samples,
                                     .low_precision = false})
DUET_DEFINE_OP(avg_pool2d_nchwc_op, {.id = OpId::avg_pool2d_nchwc,
                                     .traits = static_cast<uint32_t>(OpTrait::cpu_only),
                                     .infer = avg_pool2d_nchwc_infer,
                                     .kernels = {cpu_kernels::avg_pool2d_nchwc},
                                     .samples = avg_pool2d_nchwc_samples,
                                     .low_precision = false})
DUET_DEFINE_OP(global_avg_pool_nchwc_op, {.id = OpId::global_avg_pool_nchwc,
                                          .traits = static_cast<uint32_t>(OpTrait::cpu_only),
                                          .infer = global_avg_pool_nchwc_infer,
                                          .kernels = {cpu_kernels::global_avg_pool_nchwc},
                                          .samples = global_avg_pool_nchwc_samples,
                                          .low_precision = false})

}  // namespace duet
