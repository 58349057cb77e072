// ONNX's activations, Softmax / LogSoftmax, Dropout (inference) and Identity, mapped onto
// duet's activation ops where one matches exactly (relu, relu6, hardsigmoid, hardswish, ...:
// the graph's epilogue fusion knows them) and onto elementwise compositions otherwise.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "duet/ops/activation.h"
#include "duet/ops/elementwise.h"
#include "duet/ops/loss.h"
#include "duet/ops/shape.h"
#include "onnx/import_nn_ops.h"

namespace duet::onnx::detail {

namespace {

using duet::detail::cat;

// Float attributes are stored as float: compare at float precision.
bool float_eq(double a, double b) {
  return static_cast<float>(a) == static_cast<float>(b);
}

std::vector<Tensor> convert_relu(NodeContext& n) {
  n.expect_attrs({});
  return {relu(n.input(0))};
}

std::vector<Tensor> convert_leaky_relu(NodeContext& n) {
  n.expect_attrs({"alpha"});
  return {leaky_relu(n.input(0), n.attr_float("alpha", 0.01))};
}

std::vector<Tensor> convert_sigmoid(NodeContext& n) {
  n.expect_attrs({});
  return {sigmoid(n.input(0))};
}

std::vector<Tensor> convert_tanh(NodeContext& n) {
  n.expect_attrs({});
  return {tanh(n.input(0))};
}

// max(0, min(1, alpha * x + beta)); duet's hardsigmoid is alpha = 1/6, beta = 1/2.
std::vector<Tensor> convert_hard_sigmoid(NodeContext& n) {
  n.expect_attrs({"alpha", "beta"});
  const double alpha = n.attr_float("alpha", 0.2);
  const double beta = n.attr_float("beta", 0.5);
  if (float_eq(alpha, 1.0 / 6.0) && float_eq(beta, 0.5)) return {hardsigmoid(n.input(0))};
  return {clamp(add(mul(n.input(0), alpha), beta), 0.0, 1.0)};
}

std::vector<Tensor> convert_hard_swish(NodeContext& n) {
  n.expect_attrs({});
  return {hardswish(n.input(0))};
}

// x where x > 0, alpha * (exp(x) - 1) elsewhere.
Tensor elu_of(const Tensor& x, double alpha) {
  return where(gt(x, 0.0), x, mul(sub(exp(x), 1.0), alpha));
}

std::vector<Tensor> convert_elu(NodeContext& n) {
  n.expect_attrs({"alpha"});
  return {elu_of(n.input(0), n.attr_float("alpha", 1.0))};
}

std::vector<Tensor> convert_selu(NodeContext& n) {
  n.expect_attrs({"alpha", "gamma"});
  const double alpha = n.attr_float("alpha", 1.67326319217681884765625);
  const double gamma = n.attr_float("gamma", 1.05070102214813232421875);
  return {mul(elu_of(n.input(0), alpha), gamma)};
}

// x / (1 + |x|)
std::vector<Tensor> convert_softsign(NodeContext& n) {
  n.expect_attrs({});
  const Tensor& x = n.input(0);
  return {div(x, add(abs(x), 1.0))};
}

// x where x > alpha, else 0.
std::vector<Tensor> convert_thresholded_relu(NodeContext& n) {
  n.expect_attrs({"alpha"});
  const Tensor& x = n.input(0);
  return {where(gt(x, n.attr_float("alpha", 1.0)), x, mul(x, 0.0))};
}

// max(0, x) + min(0, alpha * (exp(x / alpha) - 1))
std::vector<Tensor> convert_celu(NodeContext& n) {
  n.expect_attrs({"alpha"});
  const double alpha = n.attr_float("alpha", 1.0);
  if (alpha == 0.0) n.fail("alpha = 0 (expected != 0)");
  const Tensor& x = n.input(0);
  return {where(gt(x, 0.0), x, mul(sub(exp(div(x, alpha)), 1.0), alpha))};
}

// x + bias where x < -lambd, x - bias where x > lambd, else 0.
std::vector<Tensor> convert_shrink(NodeContext& n) {
  n.expect_attrs({"bias", "lambd"});
  const double bias = n.attr_float("bias", 0.0);
  const double lambd = n.attr_float("lambd", 0.5);
  const Tensor& x = n.input(0);
  const Tensor zero = mul(x, 0.0);
  return {where(lt(x, -lambd), add(x, bias), where(gt(x, lambd), sub(x, bias), zero))};
}

std::vector<Tensor> convert_softplus(NodeContext& n) {
  n.expect_attrs({});
  return {softplus(n.input(0))};
}

// Slope broadcast (numpy, from the right) to X.
std::vector<Tensor> convert_prelu(NodeContext& n) {
  n.expect_attrs({});
  const Tensor& x = n.input(0);
  return {where(gt(x, 0.0), x, mul(x, n.input(1)))};
}

// Clip-6: attributes min / max; Clip-11 ... -13: optional inputs min / max (scalars).
std::vector<Tensor> convert_clip(NodeContext& n) {
  const Tensor& x = n.input(0);
  constexpr double inf = std::numeric_limits<double>::infinity();
  double lo = -inf, hi = inf;
  if (n.opset() < 11) {
    n.expect_attrs({"min", "max"});
    lo = n.attr_float("min", -inf);
    hi = n.attr_float("max", inf);
  } else {
    n.expect_attrs({});
    for (size_t i = 1; i < 3; ++i) {
      if (!n.has_input(i)) continue;
      const Tensor& bound = n.input(i);
      if (bound.numel() != 1)
        n.fail(cat(i == 1 ? "min" : "max", " has shape ", shape_str(bound.shape()),
                   " (expected a scalar)"));
      if (!n.is_constant(i)) {
        // A bound computed from the model's inputs: elementwise maximum / minimum.
        Tensor y = x;
        if (n.has_input(1)) y = maximum(y, reshape(n.input(1), {}));
        if (n.has_input(2)) y = minimum(y, reshape(n.input(2), {}));
        return {y};
      }
      (i == 1 ? lo : hi) = n.constant_doubles(i).at(0);
    }
  }
  if (lo == 0.0 && hi == 6.0 && is_floating(x.dtype())) return {relu6(x)};
  if (lo == 0.0 && hi == inf && is_floating(x.dtype())) return {relu(x)};
  if (lo == -inf && hi == inf) return {x};
  return {clamp(x, lo, hi)};
}

// Softmax / LogSoftmax. Opset >= 13: along `axis` (default -1). Before: X is coerced to 2-D
// at `axis` (default 1), (d0 * ... * d(axis-1), d(axis) * ... * d(n-1)), normalised over
// its rows and reshaped back.
std::vector<Tensor> convert_softmax_impl(NodeContext& n, bool log) {
  n.expect_attrs({"axis"});
  const Tensor& x = n.input(0);
  const int64_t r = x.dim();
  const int64_t axis_attr = n.attr_int("axis", n.opset() >= 13 ? -1 : 1);
  if (r == 0 || axis_attr < -r || axis_attr >= r)
    n.fail(cat("axis = ", axis_attr, " for X of shape ", shape_str(x.shape()), " (expected in [",
               -r, ", ", r - 1, "])"));
  const int64_t axis = axis_attr < 0 ? axis_attr + r : axis_attr;
  auto f = [&](const Tensor& t, int64_t a) { return log ? log_softmax(t, a) : softmax(t, a); };
  if (n.opset() >= 13 || axis == r - 1) return {f(x, axis)};
  int64_t outer = 1;
  for (int64_t a = 0; a < axis; ++a) outer *= x.size(a);
  const Tensor flat = reshape(x, {outer, -1});
  return {reshape(f(flat, 1), x.shape())};
}

std::vector<Tensor> convert_softmax(NodeContext& n) {
  return convert_softmax_impl(n, false);
}

std::vector<Tensor> convert_log_softmax(NodeContext& n) {
  return convert_softmax_impl(n, true);
}

// Dropout-7 ... -13, inference: the identity, and a mask of ones (bool from opset 10, X's
// dtype before) when the file asks for it. Opset 12: training_mode must be a constant false.
std::vector<Tensor> convert_dropout(NodeContext& n) {
  n.expect_attrs({"ratio", "seed"});
  const Tensor& x = n.input(0);
  if (n.opset() >= 12 && n.has_input(2)) {
    if (!n.is_constant(2))
      n.fail(
          "training_mode computed from the model's inputs is not supported (inference "
          "only: expected a constant false)");
    const std::vector<double> mode = n.constant_doubles(2);
    if (mode.size() != 1 || mode[0] != 0.0)
      n.fail("training_mode = true is not supported (inference only)");
  }
  std::vector<Tensor> out{x};
  if (n.num_outputs() > 1) {
    // A broadcast constant: an op, so the mask is a value of a graph being recorded too.
    const DType mask_dtype = n.opset() >= 10 ? bool_ : x.dtype();
    out.push_back(output_requested(n, 1)
                      ? expand(Tensor::ones({}, mask_dtype, x.device()), x.shape())
                      : Tensor());
  }
  return out;
}

std::vector<Tensor> convert_identity(NodeContext& n) {
  n.expect_attrs({});
  return {n.input(0)};
}

const OperatorDef kActivationOperators[] = {
    {"Celu", 12, convert_celu, ""},
    {"Clip", 6, convert_clip, ""},
    {"Dropout", 7, convert_dropout, "inference only (training_mode must be a constant false)"},
    {"Elu", 6, convert_elu, ""},
    {"HardSigmoid", 6, convert_hard_sigmoid, ""},
    {"HardSwish", 14, convert_hard_swish, ""},
    {"Identity", 1, convert_identity, "tensors only (no sequences or optionals)"},
    {"LeakyRelu", 6, convert_leaky_relu, ""},
    {"LogSoftmax", 1, convert_log_softmax, ""},
    {"PRelu", 7, convert_prelu, ""},
    {"Relu", 6, convert_relu, ""},
    {"Selu", 6, convert_selu, ""},
    {"Shrink", 9, convert_shrink, ""},
    {"Sigmoid", 6, convert_sigmoid, ""},
    {"Softmax", 1, convert_softmax, ""},
    {"Softplus", 1, convert_softplus, ""},
    {"Softsign", 1, convert_softsign, ""},
    {"Tanh", 6, convert_tanh, ""},
    {"ThresholdedRelu", 10, convert_thresholded_relu, ""},
};

}  // namespace

std::span<const OperatorDef> activation_operators() {
  return kActivationOperators;
}

}  // namespace duet::onnx::detail
