// Unary math (neg, exp, log, sqrt, rsqrt, abs, erf, sign) and ops with a scalar attribute
// (add/mul/rsub/rdiv by a scalar, pow, clamp).
#include <cmath>

#include "unary_kernels.h"
#include "duet/ops/elementwise.h"
#include "ops/op_def.h"
#include "ops/op_samples.h"

namespace duet {
namespace {

std::vector<TensorMeta> float_infer(const InferArgs& a) {
  infer::expect_floating(a, 0);
  return {a.inputs[0]};
}

const Tensor& G(const GradArgs& g) {
  return g.grad_outputs[0];
}

std::vector<Tensor> neg_grad(const GradArgs& g) {
  return {neg(G(g))};
}
std::vector<Tensor> exp_grad(const GradArgs& g) {
  return {mul(G(g), g.outputs[0])};
}
std::vector<Tensor> log_grad(const GradArgs& g) {
  return {div(G(g), g.inputs[0])};
}
std::vector<Tensor> sqrt_grad(const GradArgs& g) {
  return {div(G(g), mul(g.outputs[0], 2.0))};
}
std::vector<Tensor> rsqrt_grad(const GradArgs& g) {  // d/dx x^-1/2 = -1/2 y^3
  return {mul(G(g), mul(pow(g.outputs[0], 3.0), -0.5))};
}
std::vector<Tensor> abs_grad(const GradArgs& g) {
  return {mul(G(g), sign(g.inputs[0]))};
}
// d/dx erf(x) = 2 / sqrt(pi) * exp(-x^2)
std::vector<Tensor> erf_grad(const GradArgs& g) {
  const Tensor& x = g.inputs[0];
  return {mul(G(g), mul(exp(neg(mul(x, x))), 1.1283791670955126))};
}
std::vector<Tensor> sign_grad(const GradArgs& g) {
  return {mul(G(g), 0.0)};
}
std::vector<Tensor> add_scalar_grad(const GradArgs& g) {
  return {G(g)};
}
std::vector<Tensor> mul_scalar_grad(const GradArgs& g) {
  return {mul(G(g), g.attrs.f("value"))};
}
std::vector<Tensor> rsub_scalar_grad(const GradArgs& g) {
  return {neg(G(g))};
}
std::vector<Tensor> rdiv_scalar_grad(const GradArgs& g) {  // d(s/x) = -s/x^2 = -y/x
  return {neg(div(mul(G(g), g.outputs[0]), g.inputs[0]))};
}
std::vector<Tensor> pow_grad(const GradArgs& g) {
  double p = g.attrs.f("exponent");
  if (p == 1.0) return {G(g)};
  if (p == 2.0) return {mul(G(g), mul(g.inputs[0], 2.0))};
  return {mul(G(g), mul(pow(g.inputs[0], p - 1.0), p))};
}

// ---- test samples (src/ops/op_samples.h, tests/ops_table/) --------------------------------------

std::vector<OpSample> value_samples() {
  return samples::unary(Attrs().set("value", 1.5));
}
std::vector<OpSample> rdiv_scalar_samples() {
  return samples::unary(Attrs().set("value", 1.5), samples::positive());
}
// A fractional exponent needs x > 0; 2 and 3 take their own paths and any sign.
std::vector<OpSample> pow_samples() {
  using namespace samples;
  return join(unary(Attrs().set("exponent", 2.5), positive()),
              {{.inputs = {normal({3, 5})}, .attrs = Attrs().set("exponent", 2.0)},
               {.inputs = {normal({7})}, .attrs = Attrs().set("exponent", 3.0)},
               {.inputs = {positive({2, 3})}, .attrs = Attrs().set("exponent", -0.5)}});
}
Attrs clamp_attrs() {
  return Attrs().set("lo", -0.5).set("hi", 0.5);
}

}  // namespace

DUET_DEFINE_OP(neg_op, {.id = OpId::neg,
                        .traits = OpTrait::elementwise | OpTrait::unary,
                        .infer = float_infer,
                        .grad = neg_grad,
                        .kernels = {cpu_kernels::neg},
                        .inplace_input = 0,
                        .samples = [] { return samples::unary(); }})
DUET_DEFINE_OP(exp_op, {.id = OpId::exp,
                        .traits = OpTrait::elementwise | OpTrait::unary,
                        .infer = float_infer,
                        .grad = exp_grad,
                        .save_outputs = 1,
                        .kernels = {cpu_kernels::exp},
                        .inplace_input = 0,
                        .samples = [] { return samples::unary(); },
                        .autocast = AutocastPolicy::float32})
DUET_DEFINE_OP(log_op, {.id = OpId::log,
                        .traits = OpTrait::elementwise | OpTrait::unary,
                        .infer = float_infer,
                        .grad = log_grad,
                        .save_inputs = 1,
                        .kernels = {cpu_kernels::log},
                        .inplace_input = 0,
                        .samples = [] { return samples::unary({}, samples::positive()); },
                        .autocast = AutocastPolicy::float32})
DUET_DEFINE_OP(sqrt_op, {.id = OpId::sqrt,
                         .traits = OpTrait::elementwise | OpTrait::unary,
                         .infer = float_infer,
                         .grad = sqrt_grad,
                         .save_outputs = 1,
                         .kernels = {cpu_kernels::sqrt},
                         .inplace_input = 0,
                         .samples = [] { return samples::unary({}, samples::positive()); }})
DUET_DEFINE_OP(rsqrt_op, {.id = OpId::rsqrt,
                          .traits = OpTrait::elementwise | OpTrait::unary,
                          .infer = float_infer,
                          .grad = rsqrt_grad,
                          .save_outputs = 1,
                          .kernels = {cpu_kernels::rsqrt},
                          .inplace_input = 0,
                          .samples = [] { return samples::unary({}, samples::positive()); },
                          .autocast = AutocastPolicy::float32})
DUET_DEFINE_OP(abs_op, {.id = OpId::abs,
                        .traits = OpTrait::elementwise | OpTrait::unary,
                        .infer = float_infer,
                        .grad = abs_grad,
                        .save_inputs = 1,
                        .kernels = {cpu_kernels::abs},
                        .inplace_input = 0,
                        .samples = [] { return samples::unary(); }})
DUET_DEFINE_OP(erf_op, {.id = OpId::erf,
                        .traits = OpTrait::elementwise | OpTrait::unary,
                        .infer = float_infer,
                        .grad = erf_grad,
                        .save_inputs = 1,
                        .kernels = {cpu_kernels::erf},
                        .inplace_input = 0,
                        .samples = [] { return samples::unary(); }})
DUET_DEFINE_OP(sign_op, {.id = OpId::sign,
                         .traits = OpTrait::elementwise | OpTrait::unary,
                         .infer = float_infer,
                         .grad = sign_grad,
                         .kernels = {cpu_kernels::sign},
                         .inplace_input = 0,
                         .samples = [] { return samples::unary(); }})
DUET_DEFINE_OP(add_scalar_op, {.id = OpId::add_scalar,
                               .traits = OpTrait::elementwise | OpTrait::unary,
                               .infer = float_infer,
                               .grad = add_scalar_grad,
                               .kernels = {cpu_kernels::add_scalar},
                               .inplace_input = 0,
                               .samples = value_samples})
DUET_DEFINE_OP(mul_scalar_op, {.id = OpId::mul_scalar,
                               .traits = OpTrait::elementwise | OpTrait::unary,
                               .infer = float_infer,
                               .grad = mul_scalar_grad,
                               .kernels = {cpu_kernels::mul_scalar},
                               .inplace_input = 0,
                               .samples = value_samples})
DUET_DEFINE_OP(rsub_scalar_op,
               {.id = OpId::rsub_scalar,
                .traits = OpTrait::elementwise | OpTrait::unary,
                .infer = float_infer,
                .grad = rsub_scalar_grad,
                .kernels = {cpu_kernels::rsub_scalar},
                .inplace_input = 0,
                .samples = value_samples})
DUET_DEFINE_OP(rdiv_scalar_op,
               {.id = OpId::rdiv_scalar,
                .traits = OpTrait::elementwise | OpTrait::unary,
                .infer = float_infer,
                .grad = rdiv_scalar_grad,
                .save_inputs = 1,
                .save_outputs = 1,
                .kernels = {cpu_kernels::rdiv_scalar},
                .inplace_input = 0,
                .samples = rdiv_scalar_samples})
DUET_DEFINE_OP(pow_op, {.id = OpId::pow,
                        .traits = OpTrait::elementwise | OpTrait::unary,
                        .infer = float_infer,
                        .grad = pow_grad,
                        .save_inputs = 1,
                        .kernels = {cpu_kernels::pow_scalar},
                        .inplace_input = 0,
                        .samples = pow_samples,
                        .autocast = AutocastPolicy::float32})

namespace {

std::vector<TensorMeta> clamp_infer(const InferArgs& a) {
  infer::expect_floating(a, 0);
  DUET_CHECK(a.attrs.f("lo") <= a.attrs.f("hi"), a.op, ": lo = ", a.attrs.f("lo"),
             " > hi = ", a.attrs.f("hi"), " (expected lo <= hi)");
  return {a.inputs[a.inputs.size() - 1]};
}

// (grad, x) of equal shapes and dtypes: the kernel reads both elementwise.
std::vector<TensorMeta> clamp_backward_infer(const InferArgs& a) {
  infer::expect_floating(a, 0);
  infer::expect_same_dtype(a, 0, 1);
  DUET_CHECK(a.inputs[0].shape == a.inputs[1].shape, a.op, ": grad has shape ",
             shape_str(a.inputs[0].shape), " but x has shape ", shape_str(a.inputs[1].shape),
             " (expected equal shapes)");
  return clamp_infer(a);
}

Tensor clamp_backward(const Tensor& grad, const Tensor& x, const Attrs& attrs);

std::vector<Tensor> clamp_grad(const GradArgs& g) {
  return {clamp_backward(G(g), g.inputs[0], g.attrs)};
}
std::vector<Tensor> clamp_backward_grad(const GradArgs& g) {
  return {clamp_backward(G(g), g.inputs[1], g.attrs), Tensor()};
}

}  // namespace

DUET_DEFINE_OP(clamp_op, {.id = OpId::clamp,
                          .traits = OpTrait::elementwise | OpTrait::unary,
                          .infer = clamp_infer,
                          .grad = clamp_grad,
                          .save_inputs = 1,
                          .kernels = {cpu_kernels::clamp},
                          .inplace_input = 0,
                          .samples = [] { return samples::unary(clamp_attrs()); }})
DUET_DEFINE_OP(clamp_backward_op,
               {.id = OpId::clamp_backward,
                .num_inputs = 2,
                .traits = OpTrait::elementwise | OpTrait::backward,
                .infer = clamp_backward_infer,
                .grad = clamp_backward_grad,
                .save_inputs = 0b10,
                .nondiff_inputs = 0b10,
                .kernels = {cpu_kernels::clamp_backward},
                .inplace_input = 0,
                .samples = [] { return samples::grad_pair(clamp_attrs()); }})

namespace {

Tensor clamp_backward(const Tensor& grad, const Tensor& x, const Attrs& attrs) {
  return call_op1(clamp_backward_op(), {grad, x}, attrs);
}

Attrs value(double v) {
  return Attrs().set("value", v);
}

}  // namespace

Tensor neg(const Tensor& a, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(neg_op(), {a});
}
Tensor exp(const Tensor& a, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(exp_op(), {a});
}
Tensor log(const Tensor& a, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(log_op(), {a});
}
Tensor sqrt(const Tensor& a, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(sqrt_op(), {a});
}
Tensor erf(const Tensor& a, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(erf_op(), {a});
}
Tensor rsqrt(const Tensor& a, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(rsqrt_op(), {a});
}
Tensor abs(const Tensor& a, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(abs_op(), {a});
}
Tensor sign(const Tensor& a, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(sign_op(), {a});
}
Tensor add(const Tensor& a, double b, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(add_scalar_op(), {a}, value(b));
}
Tensor sub(const Tensor& a, double b, std::source_location loc) {
  LocationScope scope(loc);
  return add(a, -b);
}
Tensor mul(const Tensor& a, double b, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(mul_scalar_op(), {a}, value(b));
}
Tensor div(const Tensor& a, double b, std::source_location loc) {
  LocationScope scope(loc);
  return mul(a, 1.0 / b);
}
Tensor rsub(const Tensor& a, double b, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(rsub_scalar_op(), {a}, value(b));
}
Tensor rdiv(const Tensor& a, double b, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(rdiv_scalar_op(), {a}, value(b));
}
Tensor pow(const Tensor& a, double e, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(pow_op(), {a}, Attrs().set("exponent", e));
}
Tensor clamp(const Tensor& a, double lo, double hi, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(clamp_op(), {a}, Attrs().set("lo", lo).set("hi", hi));
}

}  // namespace duet
