// Activations (relu, relu6, leaky_relu, sigmoid, tanh, silu, hardsigmoid, hardswish, gelu,
// softplus)
// and their fused gradient ops. Each forward op saves only what its backward op reads:
// the output for relu/relu6/sigmoid/tanh, the input for the others.
#include <cmath>

#include "activation_kernels.h"
#include "duet/ops/activation.h"
#include "duet/ops/elementwise.h"
#include "ops/op_def.h"
#include "ops/op_samples.h"

namespace duet {
namespace {

std::vector<TensorMeta> act_infer(const InferArgs& a) {
  infer::expect_floating(a, 0);
  return {a.inputs[0]};
}

// Backward ops: (grad, saved) with equal shapes and dtypes.
std::vector<TensorMeta> act_backward_infer(const InferArgs& a) {
  infer::expect_floating(a, 0);
  infer::expect_same_dtype(a, 0, 1);
  DUET_CHECK(a.inputs[0].shape == a.inputs[1].shape, a.op, ": grad has shape ",
             shape_str(a.inputs[0].shape), " but the saved tensor has shape ",
             shape_str(a.inputs[1].shape), " (expected equal shapes)");
  return {a.inputs[0]};
}

const Tensor& G(const GradArgs& g) {
  return g.grad_outputs[0];
}
double slope(const Attrs& a) {
  return a.f("negative_slope");
}
bool approx(const Attrs& a) {
  return a.b("tanh_approximation");
}

// ---- forward gradient rules -------------------------------------------------------------

std::vector<Tensor> relu_grad(const GradArgs& g) {
  return {relu_backward(G(g), g.outputs[0])};
}
std::vector<Tensor> relu6_grad(const GradArgs& g) {
  return {relu6_backward(G(g), g.outputs[0])};
}
std::vector<Tensor> leaky_relu_grad(const GradArgs& g) {
  return {leaky_relu_backward(G(g), g.inputs[0], slope(g.attrs))};
}
std::vector<Tensor> sigmoid_grad(const GradArgs& g) {
  return {sigmoid_backward(G(g), g.outputs[0])};
}
std::vector<Tensor> tanh_grad(const GradArgs& g) {
  return {tanh_backward(G(g), g.outputs[0])};
}
std::vector<Tensor> silu_grad(const GradArgs& g) {
  return {silu_backward(G(g), g.inputs[0])};
}
std::vector<Tensor> hardsigmoid_grad(const GradArgs& g) {
  return {hardsigmoid_backward(G(g), g.inputs[0])};
}
std::vector<Tensor> hardswish_grad(const GradArgs& g) {
  return {hardswish_backward(G(g), g.inputs[0])};
}
std::vector<Tensor> gelu_grad(const GradArgs& g) {
  return {gelu_backward(G(g), g.inputs[0], approx(g.attrs))};
}
std::vector<Tensor> softplus_grad(const GradArgs& g) {
  return {softplus_backward(G(g), g.inputs[0], g.attrs.f("beta"), g.attrs.f("threshold"))};
}

// ---- test samples (src/ops/op_samples.h, tests/ops_table/) --------------------------------------

// relu6, hardsigmoid and hardswish bend at -3, 0, 3 and 6: inputs cover [-4, 7].
std::vector<OpSample> piecewise_samples() {
  return samples::unary({}, samples::uniform({}, -4, 7));
}
std::vector<OpSample> leaky_relu_samples() {
  return samples::unary(Attrs().set("negative_slope", 0.1));
}
std::vector<OpSample> gelu_samples() {
  return samples::join(
      samples::unary(Attrs().set("tanh_approximation", false)),
      {{.inputs = {samples::normal({3, 5})}, .attrs = Attrs().set("tanh_approximation", true)}});
}
std::vector<OpSample> piecewise_backward_samples() {
  return samples::grad_pair({}, samples::uniform({}, -4, 7));
}
std::vector<OpSample> leaky_relu_backward_samples() {
  return samples::grad_pair(Attrs().set("negative_slope", 0.1));
}
std::vector<OpSample> gelu_backward_samples() {
  return samples::join(samples::grad_pair(Attrs().set("tanh_approximation", false)),
                       {{.inputs = {samples::normal({3, 5}), samples::normal({3, 5})},
                         .attrs = Attrs().set("tanh_approximation", true)}});
}
// beta 1 (threshold 20: the log1p branch), and beta 2 with threshold 4 (x > 2 takes the
// linear branch).
Attrs softplus_sample_attrs(double beta, double threshold) {
  return Attrs().set("beta", beta).set("threshold", threshold);
}
std::vector<OpSample> softplus_samples() {
  return samples::join(samples::unary(softplus_sample_attrs(1, 20)),
                       samples::unary(softplus_sample_attrs(2, 4), samples::uniform({}, -4, 7)));
}
std::vector<OpSample> softplus_backward_samples() {
  return samples::join(
      samples::grad_pair(softplus_sample_attrs(1, 20)),
      samples::grad_pair(softplus_sample_attrs(2, 4), samples::uniform({}, -4, 7)));
}

}  // namespace

DUET_DEFINE_OP(relu_op, {.id = OpId::relu,
                         .traits = OpTrait::elementwise | OpTrait::unary | OpTrait::activation | OpTrait::epilogue,
                         .infer = act_infer,
                         .grad = relu_grad,
                         .save_outputs = 1,
                         .kernels = {cpu_kernels::relu},
                         .inplace_input = 0,
                         .samples = [] { return samples::unary(); }})
DUET_DEFINE_OP(relu6_op, {.id = OpId::relu6,
                          .traits = OpTrait::elementwise | OpTrait::unary | OpTrait::activation | OpTrait::epilogue,
                          .infer = act_infer,
                          .grad = relu6_grad,
                          .save_outputs = 1,
                          .kernels = {cpu_kernels::relu6},
                          .inplace_input = 0,
                          .samples = piecewise_samples})
DUET_DEFINE_OP(leaky_relu_op, {.id = OpId::leaky_relu,
                               .traits = OpTrait::elementwise | OpTrait::unary | OpTrait::activation,
                               .infer = act_infer,
                               .grad = leaky_relu_grad,
                               .save_inputs = 1,
                               .kernels = {cpu_kernels::leaky_relu},
                               .inplace_input = 0,
                               .samples = leaky_relu_samples})
DUET_DEFINE_OP(sigmoid_op, {.id = OpId::sigmoid,
                            .traits = OpTrait::elementwise | OpTrait::unary | OpTrait::activation | OpTrait::epilogue,
                            .infer = act_infer,
                            .grad = sigmoid_grad,
                            .save_outputs = 1,
                            .kernels = {cpu_kernels::sigmoid},
                            .inplace_input = 0,
                            .samples = [] { return samples::unary(); }})
DUET_DEFINE_OP(tanh_op, {.id = OpId::tanh,
                         .traits = OpTrait::elementwise | OpTrait::unary | OpTrait::activation,
                         .infer = act_infer,
                         .grad = tanh_grad,
                         .save_outputs = 1,
                         .kernels = {cpu_kernels::tanh},
                         .inplace_input = 0,
                         .samples = [] { return samples::unary(); }})
DUET_DEFINE_OP(silu_op, {.id = OpId::silu,
                         .traits = OpTrait::elementwise | OpTrait::unary | OpTrait::activation | OpTrait::epilogue,
                         .infer = act_infer,
                         .grad = silu_grad,
                         .save_inputs = 1,
                         .kernels = {cpu_kernels::silu},
                         .inplace_input = 0,
                         .samples = [] { return samples::unary(); }})
DUET_DEFINE_OP(hardsigmoid_op,
               {.id = OpId::hardsigmoid,
                .traits = OpTrait::elementwise | OpTrait::unary | OpTrait::activation,
                .infer = act_infer,
                .grad = hardsigmoid_grad,
                .save_inputs = 1,
                .kernels = {cpu_kernels::hardsigmoid},
                .inplace_input = 0,
                .samples = piecewise_samples})
DUET_DEFINE_OP(hardswish_op, {.id = OpId::hardswish,
                              .traits = OpTrait::elementwise | OpTrait::unary | OpTrait::activation | OpTrait::epilogue,
                              .infer = act_infer,
                              .grad = hardswish_grad,
                              .save_inputs = 1,
                              .kernels = {cpu_kernels::hardswish},
                              .inplace_input = 0,
                              .samples = piecewise_samples})
DUET_DEFINE_OP(gelu_op, {.id = OpId::gelu,
                         .traits = OpTrait::elementwise | OpTrait::unary | OpTrait::activation,
                         .infer = act_infer,
                         .grad = gelu_grad,
                         .save_inputs = 1,
                         .kernels = {cpu_kernels::gelu},
                         .inplace_input = 0,
                         .samples = gelu_samples})
DUET_DEFINE_OP(softplus_op, {.id = OpId::softplus,
                             .traits = OpTrait::elementwise | OpTrait::unary |
                                       OpTrait::activation | OpTrait::epilogue,
                             .infer = act_infer,
                             .grad = softplus_grad,
                             .save_inputs = 1,
                             .kernels = {cpu_kernels::softplus},
                             .inplace_input = 0,
                             .samples = softplus_samples,
                             .autocast = AutocastPolicy::float32})

namespace {

// ---- backward-op gradient rules ----------------------------------------------------------
// Every backward op is linear in grad, so d/d(grad) is the same op applied to gg. The
// derivative with respect to the saved tensor is the activation's second derivative:
// zero almost everywhere for the piecewise-linear ones (that input is then nondiff).

const Tensor& GG(const GradArgs& g) {
  return g.grad_outputs[0];
}
bool need(const GradArgs& g, int i) {
  return g.needs_input_grad[i];
}

std::vector<Tensor> relu_backward_grad(const GradArgs& g) {
  return {relu_backward(GG(g), g.inputs[1]), Tensor()};
}
std::vector<Tensor> relu6_backward_grad(const GradArgs& g) {
  return {relu6_backward(GG(g), g.inputs[1]), Tensor()};
}
std::vector<Tensor> leaky_relu_backward_grad(const GradArgs& g) {
  return {leaky_relu_backward(GG(g), g.inputs[1], slope(g.attrs)), Tensor()};
}
std::vector<Tensor> hardsigmoid_backward_grad(const GradArgs& g) {
  return {hardsigmoid_backward(GG(g), g.inputs[1]), Tensor()};
}
// d/dy [g y (1 - y)] = g (1 - 2y)
std::vector<Tensor> sigmoid_backward_grad(const GradArgs& g) {
  const Tensor &go = g.inputs[0], &y = g.inputs[1];
  return {need(g, 0) ? sigmoid_backward(GG(g), y) : Tensor(),
          need(g, 1) ? mul(mul(GG(g), go), rsub(mul(y, 2.0), 1.0)) : Tensor()};
}
// d/dy [g (1 - y^2)] = -2 g y
std::vector<Tensor> tanh_backward_grad(const GradArgs& g) {
  const Tensor &go = g.inputs[0], &y = g.inputs[1];
  return {need(g, 0) ? tanh_backward(GG(g), y) : Tensor(),
          need(g, 1) ? mul(mul(GG(g), go), mul(y, -2.0)) : Tensor()};
}
// silu'' = s (1 - s) (2 + x (1 - 2 s)), s = sigmoid(x)
std::vector<Tensor> silu_backward_grad(const GradArgs& g) {
  const Tensor &go = g.inputs[0], &x = g.inputs[1];
  Tensor gx;
  if (need(g, 1)) {
    Tensor s = sigmoid(x);
    Tensor d2 = mul(mul(s, rsub(s, 1.0)), add(mul(x, rsub(mul(s, 2.0), 1.0)), 2.0));
    gx = mul(mul(GG(g), go), d2);
  }
  return {need(g, 0) ? silu_backward(GG(g), x) : Tensor(), gx};
}
// hardswish'' = 1/3 on (-3, 3), else 0  (= 2 * hardsigmoid')
std::vector<Tensor> hardswish_backward_grad(const GradArgs& g) {
  const Tensor &go = g.inputs[0], &x = g.inputs[1];
  return {need(g, 0) ? hardswish_backward(GG(g), x) : Tensor(),
          need(g, 1) ? mul(hardsigmoid_backward(mul(GG(g), go), x), 2.0) : Tensor()};
}
// exact: gelu'' = phi(x) (2 - x^2)
// tanh:  gelu'' = (1 - t^2) (u' - x t u'^2 + x u'' / 2), u = k (x + c x^3), t = tanh(u)
std::vector<Tensor> gelu_backward_grad(const GradArgs& g) {
  const Tensor &go = g.inputs[0], &x = g.inputs[1];
  Tensor gx;
  if (need(g, 1)) {
    Tensor x2 = mul(x, x), d2;
    if (approx(g.attrs)) {
      const double k = std::sqrt(2.0 / M_PI), c = 0.044715;
      Tensor t = tanh(mul(add(x, mul(mul(x2, x), c)), k));
      Tensor du = mul(add(mul(x2, 3.0 * c), 1.0), k);
      Tensor d2u = mul(x, 6.0 * k * c);
      Tensor inner = add(sub(du, mul(mul(x, t), mul(du, du))), mul(mul(x, d2u), 0.5));
      d2 = mul(rsub(mul(t, t), 1.0), inner);
    } else {
      Tensor phi = mul(exp(mul(x2, -0.5)), 1.0 / std::sqrt(2.0 * M_PI));
      d2 = mul(phi, rsub(x2, 2.0));
    }
    gx = mul(mul(GG(g), go), d2);
  }
  return {need(g, 0) ? gelu_backward(GG(g), x, approx(g.attrs)) : Tensor(), gx};
}
// softplus'' = beta s (1 - s), s = sigmoid(beta x); 0 where beta x > threshold (softplus is x)
std::vector<Tensor> softplus_backward_grad(const GradArgs& g) {
  const Tensor &go = g.inputs[0], &x = g.inputs[1];
  const double beta = g.attrs.f("beta"), threshold = g.attrs.f("threshold");
  Tensor gx;
  if (need(g, 1)) {
    Tensor bx = mul(x, beta), s = sigmoid(bx);
    Tensor d2 = mul(mul(s, rsub(s, 1.0)), beta);
    gx = mul(mul(GG(g), go), where(gt(bx, threshold), mul(d2, 0.0), d2));
  }
  return {need(g, 0) ? softplus_backward(GG(g), x, beta, threshold) : Tensor(), gx};
}

// Inputs: (grad, saved). nondiff 0b10 where the second derivative vanishes.
}  // namespace

DUET_DEFINE_OP(relu_backward_op,
               {.id = OpId::relu_backward,
                .num_inputs = 2,
                .traits = OpTrait::elementwise | OpTrait::backward,
                .infer = act_backward_infer,
                .grad = relu_backward_grad,
                .save_inputs = 0b10,
                .nondiff_inputs = 0b10,
                .kernels = {cpu_kernels::relu_backward},
                .inplace_input = 0,
                .samples = [] { return samples::grad_pair(); }})
DUET_DEFINE_OP(relu6_backward_op,
               {.id = OpId::relu6_backward,
                .num_inputs = 2,
                .traits = OpTrait::elementwise | OpTrait::backward,
                .infer = act_backward_infer,
                .grad = relu6_backward_grad,
                .save_inputs = 0b10,
                .nondiff_inputs = 0b10,
                .kernels = {cpu_kernels::relu6_backward},
                .inplace_input = 0,
                .samples = piecewise_backward_samples})
DUET_DEFINE_OP(leaky_relu_backward_op, {.id = OpId::leaky_relu_backward,
                                        .num_inputs = 2,
                                        .traits = OpTrait::elementwise | OpTrait::backward,
                                        .infer = act_backward_infer,
                                        .grad = leaky_relu_backward_grad,
                                        .save_inputs = 0b10,
                                        .nondiff_inputs = 0b10,
                                        .kernels = {cpu_kernels::leaky_relu_backward},
                                        .inplace_input = 0,
                                        .samples = leaky_relu_backward_samples})
DUET_DEFINE_OP(hardsigmoid_backward_op, {.id = OpId::hardsigmoid_backward,
                                         .num_inputs = 2,
                                         .traits = OpTrait::elementwise | OpTrait::backward,
                                         .infer = act_backward_infer,
                                         .grad = hardsigmoid_backward_grad,
                                         .save_inputs = 0b10,
                                         .nondiff_inputs = 0b10,
                                         .kernels = {cpu_kernels::hardsigmoid_backward},
                                         .inplace_input = 0,
                                         .samples = piecewise_backward_samples})
DUET_DEFINE_OP(sigmoid_backward_op,
               {.id = OpId::sigmoid_backward,
                .num_inputs = 2,
                .traits = OpTrait::elementwise | OpTrait::backward,
                .infer = act_backward_infer,
                .grad = sigmoid_backward_grad,
                .save_inputs = 0b11,
                .kernels = {cpu_kernels::sigmoid_backward},
                .inplace_input = 0,
                .samples = [] { return samples::grad_pair(); }})
DUET_DEFINE_OP(tanh_backward_op,
               {.id = OpId::tanh_backward,
                .num_inputs = 2,
                .traits = OpTrait::elementwise | OpTrait::backward,
                .infer = act_backward_infer,
                .grad = tanh_backward_grad,
                .save_inputs = 0b11,
                .kernels = {cpu_kernels::tanh_backward},
                .inplace_input = 0,
                .samples = [] { return samples::grad_pair(); }})
DUET_DEFINE_OP(silu_backward_op,
               {.id = OpId::silu_backward,
                .num_inputs = 2,
                .traits = OpTrait::elementwise | OpTrait::backward,
                .infer = act_backward_infer,
                .grad = silu_backward_grad,
                .save_inputs = 0b11,
                .kernels = {cpu_kernels::silu_backward},
                .inplace_input = 0,
                .samples = [] { return samples::grad_pair(); }})
DUET_DEFINE_OP(hardswish_backward_op,
               {.id = OpId::hardswish_backward,
                .num_inputs = 2,
                .traits = OpTrait::elementwise | OpTrait::backward,
                .infer = act_backward_infer,
                .grad = hardswish_backward_grad,
                .save_inputs = 0b11,
                .kernels = {cpu_kernels::hardswish_backward},
                .inplace_input = 0,
                .samples = piecewise_backward_samples})
DUET_DEFINE_OP(gelu_backward_op,
               {.id = OpId::gelu_backward,
                .num_inputs = 2,
                .traits = OpTrait::elementwise | OpTrait::backward,
                .infer = act_backward_infer,
                .grad = gelu_backward_grad,
                .save_inputs = 0b11,
                .kernels = {cpu_kernels::gelu_backward},
                .inplace_input = 0,
                .samples = gelu_backward_samples})
DUET_DEFINE_OP(softplus_backward_op,
               {.id = OpId::softplus_backward,
                .num_inputs = 2,
                .traits = OpTrait::elementwise | OpTrait::backward,
                .infer = act_backward_infer,
                .grad = softplus_backward_grad,
                .save_inputs = 0b11,
                .kernels = {cpu_kernels::softplus_backward},
                .inplace_input = 0,
                .samples = softplus_backward_samples})

namespace {

Attrs slope_attr(double s) {
  return Attrs().set("negative_slope", s);
}
Attrs approx_attr(bool t) {
  return Attrs().set("tanh_approximation", t);
}
Attrs softplus_attrs(double beta, double threshold) {
  return Attrs().set("beta", beta).set("threshold", threshold);
}

}  // namespace

Tensor relu(const Tensor& x, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(relu_op(), {x});
}
Tensor relu6(const Tensor& x, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(relu6_op(), {x});
}
Tensor leaky_relu(const Tensor& x, double s, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(leaky_relu_op(), {x}, slope_attr(s));
}
Tensor sigmoid(const Tensor& x, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(sigmoid_op(), {x});
}
Tensor tanh(const Tensor& x, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(tanh_op(), {x});
}
Tensor silu(const Tensor& x, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(silu_op(), {x});
}
Tensor hardsigmoid(const Tensor& x, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(hardsigmoid_op(), {x});
}
Tensor hardswish(const Tensor& x, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(hardswish_op(), {x});
}
Tensor gelu(const Tensor& x, bool t, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(gelu_op(), {x}, approx_attr(t));
}
Tensor softplus(const Tensor& x, double beta, double threshold, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(softplus_op(), {x}, softplus_attrs(beta, threshold));
}

Tensor relu_backward(const Tensor& g, const Tensor& y, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(relu_backward_op(), {g, y});
}
Tensor relu6_backward(const Tensor& g, const Tensor& y, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(relu6_backward_op(), {g, y});
}
Tensor leaky_relu_backward(const Tensor& g, const Tensor& x, double s, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(leaky_relu_backward_op(), {g, x}, slope_attr(s));
}
Tensor sigmoid_backward(const Tensor& g, const Tensor& y, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(sigmoid_backward_op(), {g, y});
}
Tensor tanh_backward(const Tensor& g, const Tensor& y, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(tanh_backward_op(), {g, y});
}
Tensor silu_backward(const Tensor& g, const Tensor& x, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(silu_backward_op(), {g, x});
}
Tensor hardsigmoid_backward(const Tensor& g, const Tensor& x, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(hardsigmoid_backward_op(), {g, x});
}
Tensor hardswish_backward(const Tensor& g, const Tensor& x, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(hardswish_backward_op(), {g, x});
}
Tensor gelu_backward(const Tensor& g, const Tensor& x, bool t, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(gelu_backward_op(), {g, x}, approx_attr(t));
}
Tensor softplus_backward(const Tensor& g, const Tensor& x, double beta, double threshold,
                         std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(softplus_backward_op(), {g, x}, softplus_attrs(beta, threshold));
}

}  // namespace duet
