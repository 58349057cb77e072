// Fused ops: conv2d_fused, linear_fused, add_relu (include/duet/ops/fused.h).
//
// conv2d_fused / linear_fused reuse conv2d's / linear's own shape rule, workspace and gradient
// rule through their OpDefs, so they can never disagree with the unfused op. Their gradient:
//   g_pre = the activation's backward op on grad and the saved output (relu, relu6, sigmoid),
//           or on the pre-activation recomputed with the unfused ops (silu, hardswish: their
//           backward ops need the input, which a fused op does not keep);
//   then conv2d's / linear's rule on g_pre, and g_pre itself for the residual.
// add_relu: relu_backward(grad, y) for both inputs.
#include "activations.h"
#include "fused_kernels.h"
#include "duet/autograd.h"
#include "duet/ops/activation.h"
#include "duet/ops/elementwise.h"
#include "duet/ops/fused.h"
#include "duet/ops/linalg.h"
#include "ops/op_def.h"
#include "ops/op_samples.h"

namespace duet {
namespace {

using kernels::Activation;

const OpDef& conv2d_def() {
  return op_def(OpId::conv2d);
}
const OpDef& linear_def() {
  return op_def(OpId::linear);
}

// Runs the unfused op's infer on the leading `count` inputs; its errors name the fused op.
std::vector<TensorMeta> base_infer(const OpDef& base, const InferArgs& a, size_t count) {
  try {
    return base.infer({base.name.c_str(), a.inputs.subspan(0, count), a.attrs});
  } catch (const Error& e) {
    throw Error(detail::cat(a.op, ": ", e.what()));
  }
}

size_t expected_inputs(const InferArgs& a, bool residual_attr) {
  const size_t n =
      2 + (a.attrs.b("has_bias") ? 1 : 0) + (residual_attr && a.attrs.b("has_residual") ? 1 : 0);
  DUET_CHECK(a.inputs.size() == n, a.op, ": got ", a.inputs.size(), " inputs, expected ", n,
             " (x, weight", a.attrs.b("has_bias") ? ", bias" : "",
             residual_attr && a.attrs.b("has_residual") ? ", residual" : "",
             " as has_bias / has_residual say)");
  kernels::parse_activation(a.attrs.s("activation"), a.op);
  return n;
}

// The backward op of a fusable activation (kernels/activations.h).
OpId backward_op(Activation a) {
  switch (a) {
#define DUET_ACT_BACKWARD_ID(name, kind, saved, epilogue, ...) \
  DUET_ACT_IF_##epilogue(case Activation::name : return OpId::name##_backward;)
    DUET_ACTIVATIONS(DUET_ACT_BACKWARD_ID)
#undef DUET_ACT_BACKWARD_ID
    case Activation::none:
      break;
  }
  return OpId::count;
}

// Gradient with respect to the activation's input: its backward op on grad and the saved
// output, or the input `pre` recomputes (for activations whose backward reads the input).
template <class Pre>
Tensor pre_activation_grad(const GradArgs& g, Pre pre) {
  const Tensor& go = g.grad_outputs[0];
  const Activation a = kernels::parse_activation(g.attrs.s("activation"), "fused op gradient");
  if (a == Activation::none) return go;
  const Tensor saved = kernels::activation_saves_output(a) ? g.outputs[0] : pre();
  return call_op1(op_def(backward_op(a)), {go, saved}, kernels::activation_attrs(a, g.attrs));
}

// Calls the unfused op's gradient rule for its leading `count` inputs with grad `gp`.
std::vector<Tensor> base_grad(const OpDef& base, const GradArgs& g, size_t count,
                              const Tensor& gp) {
  GradArgs b{g.attrs, {g.inputs.begin(), g.inputs.begin() + count},
             {},      {g.input_metas.begin(), g.input_metas.begin() + count},
             {gp},    {g.needs_input_grad.begin(), g.needs_input_grad.begin() + count}};
  std::vector<Tensor> r = base.grad(b);
  r.resize(g.input_metas.size());
  return r;
}

Conv2dOptions conv_options(const Attrs& a) {
  const auto& s = a.ints("stride");
  const auto& p = a.ints("padding");
  const auto& d = a.ints("dilation");
  return {{s[0], s[1]}, {p[0], p[1]}, {d[0], d[1]}, a.i("groups")};
}

// ---------------------------------------------------------------------------------------
// conv2d_fused: x, w [, b] [, residual] -> act(conv2d(x, w, b) + residual)

std::vector<TensorMeta> conv2d_fused_infer(const InferArgs& a) {
  const size_t n = expected_inputs(a, true);
  const size_t nconv = a.attrs.b("has_bias") ? 3 : 2;
  std::vector<TensorMeta> out = base_infer(conv2d_def(), a, nconv);
  if (n > nconv) {
    const TensorMeta& r = a.inputs[nconv];
    DUET_CHECK(r.shape == out[0].shape, a.op, ": residual has shape ", shape_str(r.shape),
               " but the convolution gives ", shape_str(out[0].shape), " (expected equal shapes)");
    infer::expect_same_dtype(a, 0, static_cast<int>(nconv));
  }
  return out;
}

// CPU: conv2d's workspace. The CUDA slot is the backend's own query, which also knows whether
// the bias and activation run inside cuDNN (a fused call may take another algorithm).
size_t conv2d_fused_workspace_cpu(std::span<const TensorMeta> in, std::span<const TensorMeta> out,
                                  const Attrs& attrs) {
  WorkspaceFn conv = conv2d_def().workspace[static_cast<int>(DeviceType::cpu)];
  return conv ? conv(in.subspan(0, attrs.b("has_bias") ? 3 : 2), out, attrs) : 0;
}

std::vector<Tensor> conv2d_fused_grad(const GradArgs& g) {
  const size_t nconv = g.attrs.b("has_bias") ? 3 : 2;
  const bool residual = g.attrs.b("has_residual");
  const Tensor gp = pre_activation_grad(g, [&] {
    Tensor p =
        conv2d(g.inputs[0], g.inputs[1], nconv > 2 ? g.inputs[2] : Tensor(), conv_options(g.attrs));
    return residual ? add(p, g.inputs[nconv]) : p;
  });
  std::vector<Tensor> r = base_grad(conv2d_def(), g, nconv, gp);
  if (residual && g.needs_input_grad[nconv]) r[nconv] = gp;
  return r;
}

// The unfused op's multiply-accumulates (the epilogue adds none).
int64_t conv2d_fused_macs(std::span<const TensorMeta> in, std::span<const TensorMeta> out,
                          const Attrs& attrs) {
  return conv2d_def().macs(in, out, attrs);
}
int64_t linear_fused_macs(std::span<const TensorMeta> in, std::span<const TensorMeta> out,
                          const Attrs& attrs) {
  return linear_def().macs(in, out, attrs);
}

// ---- test samples (src/ops/op_samples.h, tests/ops_table/) --------------------------------------

Attrs fused_sample(Attrs a, const char* activation, bool bias) {
  return a.set("activation", std::string(activation)).set("has_bias", bias);
}
// x, weight [, bias] [, residual] with each epilogue activation.
std::vector<OpSample> conv2d_fused_samples() {
  using namespace samples;
  auto with_residual = [](Attrs a, const char* act, bool bias, bool res) {
    return fused_sample(std::move(a), act, bias).set("has_residual", res);
  };
  return {
      {.inputs = {normal({2, 3, 5, 5}), normal({4, 3, 3, 3}), normal({4}), normal({2, 4, 5, 5})},
       .attrs = with_residual(conv(1, 1), "relu", true, true)},
      {.inputs = {normal({1, 4, 6, 6}), normal({4, 1, 3, 3})},
       .attrs = with_residual(conv(2, 0, 1, 4), "silu", false, false)},
      {.inputs = {normal({1, 3, 4, 5}), normal({5, 3, 1, 1}), normal({5})},
       .attrs = with_residual(conv(), "hardswish", true, false)},
      {.inputs = {normal({1, 2, 5, 5}), normal({3, 2, 3, 3}), normal({3})},
       .attrs = with_residual(conv(1, 1), "sigmoid", true, false)},
      {.inputs = {uniform({1, 2, 4, 4}, -2, 4), normal({3, 2, 3, 3}), normal({3}),
                  uniform({1, 3, 4, 4}, 0, 6)},
       .attrs = with_residual(conv(1, 1), "relu6", true, true)},
      {.inputs = {normal({2, 3, 3, 3}), normal({4, 3, 3, 3}), normal({2, 4, 1, 1})},
       .attrs = with_residual(conv(), "none", false, true)}};
}
// x, weight [, bias] with each epilogue activation.
std::vector<OpSample> linear_fused_samples() {
  using namespace samples;
  return {
      {.inputs = {normal({3, 4}), normal({5, 4}), normal({5})},
       .attrs = fused_sample({}, "relu", true)},
      {.inputs = {normal({2, 3, 4}), normal({5, 4})}, .attrs = fused_sample({}, "silu", false)},
      {.inputs = {normal({3, 4}), normal({5, 4}), normal({5})},
       .attrs = fused_sample({}, "relu6", true)},
      {.inputs = {normal({3, 4}), normal({5, 4}), normal({5})},
       .attrs = fused_sample({}, "sigmoid", true)},
      {.inputs = {normal({3, 4}), normal({5, 4})}, .attrs = fused_sample({}, "hardswish", false)},
      {.inputs = {normal({0, 4}), normal({5, 4}), normal({5})},
       .attrs = fused_sample({}, "none", true)}};
}
// a + b then relu, equal shapes (no broadcasting).
std::vector<OpSample> add_relu_samples() {
  std::vector<OpSample> r;
  for (const Shape& s : samples::elementwise_shapes())
    r.push_back({.inputs = {samples::normal(s), samples::normal(s)}});
  return r;
}

}  // namespace

DUET_DEFINE_OP(conv2d_fused_op,
               {.id = OpId::conv2d_fused,
                .num_inputs = -1,
                .traits = static_cast<uint32_t>(OpTrait::fused),
                .infer = conv2d_fused_infer,
                .grad = conv2d_fused_grad,
                .save_inputs = 0b1111,
                .save_outputs = 0b1,
                .kernels = {cpu_kernels::conv2d_fused},
                .workspace = {conv2d_fused_workspace_cpu},
                .macs = conv2d_fused_macs,
                .samples = conv2d_fused_samples,
                .native_low_precision = {kNativeBFloat16},
                .autocast = AutocastPolicy::lower})

namespace {

// ---------------------------------------------------------------------------------------
// linear_fused: x, w [, b] -> act(linear(x, w, b))

std::vector<TensorMeta> linear_fused_infer(const InferArgs& a) {
  return base_infer(linear_def(), a, expected_inputs(a, false));
}

std::vector<Tensor> linear_fused_grad(const GradArgs& g) {
  const size_t n = g.inputs.size();
  const Tensor gp = pre_activation_grad(
      g, [&] { return linear(g.inputs[0], g.inputs[1], n > 2 ? g.inputs[2] : Tensor()); });
  return base_grad(linear_def(), g, n, gp);
}

}  // namespace

DUET_DEFINE_OP(linear_fused_op,
               {.id = OpId::linear_fused,
                .num_inputs = -1,
                .traits = static_cast<uint32_t>(OpTrait::fused),
                .infer = linear_fused_infer,
                .grad = linear_fused_grad,
                .save_inputs = 0b111,
                .save_outputs = 0b1,
                .kernels = {cpu_kernels::linear_fused},
                .macs = linear_fused_macs,
                .samples = linear_fused_samples,
                .native_low_precision = {kNativeBFloat16},
                .autocast = AutocastPolicy::lower})

namespace {

// ---------------------------------------------------------------------------------------
// add_relu: a, b (same shape) -> relu(a + b)

std::vector<TensorMeta> add_relu_infer(const InferArgs& a) {
  infer::expect_floating(a, 0);
  infer::expect_same_dtype(a, 0, 1);
  DUET_CHECK(a.inputs[0].shape == a.inputs[1].shape, a.op, ": a has shape ",
             shape_str(a.inputs[0].shape), " but b has shape ", shape_str(a.inputs[1].shape),
             " (expected equal shapes; add_relu does not broadcast)");
  return {a.inputs[0]};
}

std::vector<Tensor> add_relu_grad(const GradArgs& g) {
  const Tensor gp = relu_backward(g.grad_outputs[0], g.outputs[0]);
  return {g.needs_input_grad[0] ? gp : Tensor(), g.needs_input_grad[1] ? gp : Tensor()};
}

}  // namespace

DUET_DEFINE_OP(add_relu_op, {.id = OpId::add_relu,
                             .num_inputs = 2,
                             .traits = OpTrait::fused | OpTrait::elementwise | OpTrait::binary,
                             .infer = add_relu_infer,
                             .grad = add_relu_grad,
                             .save_outputs = 0b1,
                             .kernels = {cpu_kernels::add_relu},
                             .inplace_input = 0,
                             .samples = add_relu_samples,
                             .native_low_precision = {kNativeBFloat16}})

namespace {

Attrs conv_attrs(const Conv2dOptions& o) {
  Attrs a;
  a.set("stride", std::vector<int64_t>{o.stride[0], o.stride[1]})
      .set("padding", std::vector<int64_t>{o.padding[0], o.padding[1]})
      .set("dilation", std::vector<int64_t>{o.dilation[0], o.dilation[1]})
      .set("groups", o.groups);
  return a;
}

}  // namespace

Tensor conv2d_fused(const Tensor& x, const Tensor& weight, const Tensor& bias,
                    const Tensor& residual, const Conv2dOptions& options,
                    const std::string& activation, const Attrs& activation_attrs,
                    std::source_location loc) {
  LocationScope scope(loc);
  Attrs attrs = conv_attrs(options);
  attrs.set("activation", activation);
  for (const auto& [name, value] : activation_attrs.items()) attrs.set(name, value);
  attrs.set("has_bias", bias.defined()).set("has_residual", residual.defined());
  std::vector<Tensor> in{x, weight};
  if (bias.defined()) in.push_back(bias);
  if (residual.defined()) in.push_back(residual);
  return call_op1(conv2d_fused_op(), std::move(in), attrs);
}

Tensor linear_fused(const Tensor& x, const Tensor& weight, const Tensor& bias,
                    const std::string& activation, const Attrs& activation_attrs,
                    std::source_location loc) {
  LocationScope scope(loc);
  Attrs attrs;
  attrs.set("activation", activation);
  for (const auto& [name, value] : activation_attrs.items()) attrs.set(name, value);
  attrs.set("has_bias", bias.defined());
  std::vector<Tensor> in{x, weight};
  if (bias.defined()) in.push_back(bias);
  return call_op1(linear_fused_op(), std::move(in), attrs);
}

Tensor add_relu(const Tensor& a, const Tensor& b, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(add_relu_op(), {a, b});
}

}  // namespace duet
