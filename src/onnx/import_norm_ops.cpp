// ONNX's normalisations other than BatchNormalization (import_conv_ops.cpp):
// LayerNormalization, InstanceNormalization and LRN, composed from duet's reductions and
// elementwise ops (duet has no fused kernels for them).
#include <string>
#include <vector>

#include "duet/ops/elementwise.h"
#include "duet/ops/pool.h"
#include "duet/ops/reduce.h"
#include "duet/ops/shape.h"
#include "onnx/import_nn_ops.h"

namespace duet::onnx::detail {

namespace {

using duet::detail::cat;

double read_epsilon(const NodeContext& n) {
  const double eps = n.attr_float("epsilon", 1e-5);
  if (!(eps > 0.0)) n.fail(cat("epsilon = ", eps, " (expected > 0)"));
  return eps;
}

// LayerNormalization-17: X normalised over axes [axis, rank) with the biased variance,
// Y = (X - mean) / sqrt(var + epsilon) * Scale + B (Scale, B broadcast to X); the optional
// outputs Mean and InvStdDev have X's shape with 1 on the normalised axes.
std::vector<Tensor> convert_layer_norm(NodeContext& n) {
  n.expect_attrs({"axis", "epsilon", "stash_type"});
  const Tensor& x = n.input(0);
  const int64_t r = x.dim();
  const int64_t axis_attr = n.attr_int("axis", -1);
  if (r == 0 || axis_attr < -r || axis_attr >= r)
    n.fail(cat("axis = ", axis_attr, " for X of shape ", shape_str(x.shape()), " (expected in [",
               -r, ", ", r - 1, "])"));
  const int64_t stash = n.attr_int("stash_type", 1);
  if (stash != 1)
    n.fail(cat("stash_type = ", stash, " is not supported (only 1: statistics in float)"));
  const double eps = read_epsilon(n);
  std::vector<int64_t> axes;
  for (int64_t a = axis_attr < 0 ? axis_attr + r : axis_attr; a < r; ++a) axes.push_back(a);
  const Tensor mu = mean(x, axes, true);
  const Tensor d = sub(x, mu);
  const Tensor inv_std = rsqrt(add(mean(mul(d, d), axes, true), eps));
  Tensor y = mul(mul(d, inv_std), n.input(1));
  if (n.has_input(2)) y = add(y, n.input(2));
  std::vector<Tensor> out{y};
  if (n.num_outputs() > 1) out.push_back(output_requested(n, 1) ? mu : Tensor());
  if (n.num_outputs() > 2) out.push_back(output_requested(n, 2) ? inv_std : Tensor());
  return out;
}

// InstanceNormalization-6: X (N, C, d1, ...) normalised over d1, ... per sample and channel;
// scale, B (C).
std::vector<Tensor> convert_instance_norm(NodeContext& n) {
  n.expect_attrs({"epsilon"});
  const Tensor& x = n.input(0);
  if (x.dim() < 3)
    n.fail(cat("input has shape ", shape_str(x.shape()), " (expected (N, C, d1, ...), rank >= 3)"));
  const int64_t c = x.size(1);
  for (size_t i = 1; i < 3; ++i)
    if (n.input(i).shape() != Shape{c})
      n.fail(cat(i == 1 ? "scale" : "B", " has shape ", shape_str(n.input(i).shape()), " but the ",
                 "input ", shape_str(x.shape()), " has ", c, " channels (expected (", c, "))"));
  const double eps = read_epsilon(n);
  std::vector<int64_t> axes;
  Shape per_channel{c};
  for (int64_t a = 2; a < x.dim(); ++a) {
    axes.push_back(a);
    per_channel.push_back(1);
  }
  const Tensor d = sub(x, mean(x, axes, true));
  const Tensor inv_std = rsqrt(add(mean(mul(d, d), axes, true), eps));
  return {add(mul(mul(d, inv_std), reshape(n.input(1), per_channel)),
              reshape(n.input(2), per_channel))};
}

// LRN-1 ... -13: X (N, C, H, W), Y = X / (bias + alpha / size * S) ^ beta with S the sum of
// X^2 over channels [c - floor((size - 1) / 2), c + ceil((size - 1) / 2)] (zeros outside).
// The window sum is an average pool over the channel axis of (N, 1, C, H * W).
std::vector<Tensor> convert_lrn(NodeContext& n) {
  n.expect_attrs({"alpha", "beta", "bias", "size"});
  const Tensor& x = n.input(0);
  if (x.dim() != 4) n.fail(cat("X has shape ", shape_str(x.shape()), " (supported: (N, C, H, W))"));
  if (!n.has_attr("size")) n.fail("attribute size is missing (required)");
  const int64_t size = n.attr_int("size", 1);
  if (size < 1 || size > (int64_t{1} << 20)) n.fail(cat("size = ", size, " (expected >= 1)"));
  const double alpha = n.attr_float("alpha", 1e-4);
  const double beta = n.attr_float("beta", 0.75);
  const double bias = n.attr_float("bias", 1.0);
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const Tensor sq = reshape(mul(x, x), {b, 1, c, h * w});
  const Tensor padded = pad(sq, {0, 0, (size - 1) / 2, size / 2});
  const Tensor window = avg_pool2d(padded, {.kernel = {size, 1}, .stride = 1});  // (N, 1, C, HW)
  const Tensor s = mul(reshape(window, x.shape()), alpha);                       // alpha / size * S
  return {div(x, pow(add(s, bias), beta))};
}

const OperatorDef kNormOperators[] = {
    {"InstanceNormalization", 6, convert_instance_norm, ""},
    {"LRN", 1, convert_lrn, "4-D input (N, C, H, W) only"},
    {"LayerNormalization", 17, convert_layer_norm, "stash_type = 1 only"},
};

}  // namespace

std::span<const OperatorDef> norm_operators() {
  return kNormOperators;
}

}  // namespace duet::onnx::detail
