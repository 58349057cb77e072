// Broadcasting binary ops (add, sub, mul, div, maximum, minimum), comparisons and where.
#include "binary_kernels.h"
#include "duet/ops/elementwise.h"
#include "duet/ops/shape.h"
#include "ops/op_def.h"
#include "ops/op_samples.h"

namespace duet {
namespace {

std::vector<TensorMeta> binary_infer(const InferArgs& a) {
  infer::expect_same_dtype(a, 0, 1);
  return {{broadcast_shapes(a.inputs[0].shape, a.inputs[1].shape, a.op), a.inputs[0].dtype,
           a.inputs[0].device}};
}

std::vector<TensorMeta> compare_infer(const InferArgs& a) {
  auto m = binary_infer(a);
  m[0].dtype = DType::bool_;
  return m;
}

// Gradient g for an input of broadcast shape `shape`, or undefined when not needed.
Tensor reduce_grad(const GradArgs& g, int i, const Tensor& grad) {
  return g.needs_input_grad[i] ? sum_to(grad, g.input_metas[i].shape) : Tensor();
}

std::vector<Tensor> add_grad(const GradArgs& g) {
  return {reduce_grad(g, 0, g.grad_outputs[0]), reduce_grad(g, 1, g.grad_outputs[0])};
}
std::vector<Tensor> sub_grad(const GradArgs& g) {
  const Tensor& go = g.grad_outputs[0];
  return {reduce_grad(g, 0, go), g.needs_input_grad[1] ? reduce_grad(g, 1, neg(go)) : Tensor()};
}
std::vector<Tensor> mul_grad(const GradArgs& g) {
  const Tensor& go = g.grad_outputs[0];
  return {g.needs_input_grad[0] ? reduce_grad(g, 0, mul(go, g.inputs[1])) : Tensor(),
          g.needs_input_grad[1] ? reduce_grad(g, 1, mul(go, g.inputs[0])) : Tensor()};
}
std::vector<Tensor> div_grad(const GradArgs& g) {
  const Tensor& go = g.grad_outputs[0];
  const Tensor& a = g.inputs[0];
  const Tensor& b = g.inputs[1];
  return {g.needs_input_grad[0] ? reduce_grad(g, 0, div(go, b)) : Tensor(),
          g.needs_input_grad[1] ? reduce_grad(g, 1, neg(div(mul(go, a), mul(b, b)))) : Tensor()};
}
// maximum/minimum: the gradient goes to the selected input; ties split it evenly (PyTorch).
std::vector<Tensor> select_grad(const GradArgs& g, bool is_max) {
  const Tensor& a = g.inputs[0];
  const Tensor& b = g.inputs[1];
  const DType dt = g.grad_outputs[0].dtype();
  Tensor wins = cast(is_max ? gt(a, b) : lt(a, b), dt);
  Tensor ties = cast(eq(a, b), dt);
  Tensor wa = add(wins, mul(ties, 0.5));
  const Tensor& go = g.grad_outputs[0];
  return {g.needs_input_grad[0] ? reduce_grad(g, 0, mul(go, wa)) : Tensor(),
          g.needs_input_grad[1] ? reduce_grad(g, 1, mul(go, rsub(wa, 1.0))) : Tensor()};
}
std::vector<Tensor> maximum_grad(const GradArgs& g) {
  return select_grad(g, true);
}
std::vector<Tensor> minimum_grad(const GradArgs& g) {
  return select_grad(g, false);
}

// inplace_input = 0: binary_map reads a[i] before writing out[i]; the planner only reuses
// input 0's buffer when its shape equals the output's (not for a broadcast input 0).
// ---- test samples (src/ops/op_samples.h, tests/ops_table/) --------------------------------------

// Divisors stay away from 0.
std::vector<OpSample> div_samples() {
  return samples::binary({}, samples::normal(), samples::positive());
}
// Comparisons: whole numbers in [-2, 2], so equal elements occur.
std::vector<OpSample> compare_samples() {
  return samples::binary({}, samples::integers({}, -2, 3), samples::integers({}, -2, 3));
}
// (cond, a, b), each broadcast against the others.
std::vector<OpSample> where_samples() {
  using namespace samples;
  return {{.inputs = {boolean({3, 1}), normal({3, 4}), normal({4})}},
          {.inputs = {boolean({7}), normal({7}), normal({7})}},
          {.inputs = {boolean({}), normal({2, 3}), normal({2, 1})}},
          {.inputs = {boolean({0, 4}), normal({0, 4}), normal({4})}}};
}

}  // namespace

DUET_DEFINE_OP(add_op, {.id = OpId::add,
                        .num_inputs = 2,
                        .traits = OpTrait::elementwise | OpTrait::binary,
                        .infer = binary_infer,
                        .grad = add_grad,
                        .kernels = {cpu_kernels::add},
                        .inplace_input = 0,
                        .samples = [] { return samples::binary(); }})
DUET_DEFINE_OP(sub_op, {.id = OpId::sub,
                        .num_inputs = 2,
                        .traits = OpTrait::elementwise | OpTrait::binary,
                        .infer = binary_infer,
                        .grad = sub_grad,
                        .kernels = {cpu_kernels::sub},
                        .inplace_input = 0,
                        .samples = [] { return samples::binary(); }})
DUET_DEFINE_OP(mul_op, {.id = OpId::mul,
                        .num_inputs = 2,
                        .traits = OpTrait::elementwise | OpTrait::binary,
                        .infer = binary_infer,
                        .grad = mul_grad,
                        .save_inputs = 0b11,
                        .kernels = {cpu_kernels::mul},
                        .inplace_input = 0,
                        .samples = [] { return samples::binary(); }})
DUET_DEFINE_OP(div_op, {.id = OpId::div,
                        .num_inputs = 2,
                        .traits = OpTrait::elementwise | OpTrait::binary,
                        .infer = binary_infer,
                        .grad = div_grad,
                        .save_inputs = 0b11,
                        .kernels = {cpu_kernels::div},
                        .inplace_input = 0,
                        .samples = div_samples})
DUET_DEFINE_OP(maximum_op, {.id = OpId::maximum,
                            .num_inputs = 2,
                            .traits = OpTrait::elementwise | OpTrait::binary,
                            .infer = binary_infer,
                            .grad = maximum_grad,
                            .save_inputs = 0b11,
                            .kernels = {cpu_kernels::maximum},
                            .inplace_input = 0,
                            .samples = [] { return samples::binary(); }})
DUET_DEFINE_OP(minimum_op, {.id = OpId::minimum,
                            .num_inputs = 2,
                            .traits = OpTrait::elementwise | OpTrait::binary,
                            .infer = binary_infer,
                            .grad = minimum_grad,
                            .save_inputs = 0b11,
                            .kernels = {cpu_kernels::minimum},
                            .inplace_input = 0,
                            .samples = [] { return samples::binary(); }})

#define DUET_COMPARE_OP(fn)                \
  DUET_DEFINE_OP(fn##_op, {.id = OpId::fn,         \
                           .num_inputs = 2,        \
                           .traits = OpTrait::elementwise | OpTrait::binary, \
                           .infer = compare_infer, \
                           .kernels = {cpu_kernels::fn}, .samples = compare_samples})
DUET_COMPARE_OP(eq)
DUET_COMPARE_OP(ne)
DUET_COMPARE_OP(lt)
DUET_COMPARE_OP(le)
DUET_COMPARE_OP(gt)
DUET_COMPARE_OP(ge)
#undef DUET_COMPARE_OP

namespace {

std::vector<TensorMeta> where_infer(const InferArgs& a) {
  DUET_CHECK(a.inputs[0].dtype == DType::bool_, "where: condition has dtype ", a.inputs[0].dtype,
             " (expected bool)");
  infer::expect_same_dtype(a, 1, 2);
  Shape s = broadcast_shapes(a.inputs[0].shape, a.inputs[1].shape, "where");
  s = broadcast_shapes(s, a.inputs[2].shape, "where");
  return {{s, a.inputs[1].dtype, a.inputs[1].device}};
}

std::vector<Tensor> where_grad(const GradArgs& g) {
  const Tensor& c = g.inputs[0];
  const Tensor& go = g.grad_outputs[0];
  Tensor zero = Tensor::zeros({}, go.dtype(), go.device());
  return {Tensor(), g.needs_input_grad[1] ? reduce_grad(g, 1, where(c, go, zero)) : Tensor(),
          g.needs_input_grad[2] ? reduce_grad(g, 2, where(c, zero, go)) : Tensor()};
}

}  // namespace

DUET_DEFINE_OP(where_op, {.id = OpId::where,
                          .num_inputs = 3,
                          .traits = static_cast<uint32_t>(OpTrait::elementwise),
                          .infer = where_infer,
                          .grad = where_grad,
                          .save_inputs = 0b001,
                          .nondiff_inputs = 0b001,
                          .kernels = {cpu_kernels::where},
                          .samples = where_samples})

namespace {

Tensor scalar_like(const Tensor& t, double v) {
  return Tensor::full({}, v, t.dtype(), t.device());
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(add_op(), {a, b});
}
Tensor sub(const Tensor& a, const Tensor& b, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(sub_op(), {a, b});
}
Tensor mul(const Tensor& a, const Tensor& b, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(mul_op(), {a, b});
}
Tensor div(const Tensor& a, const Tensor& b, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(div_op(), {a, b});
}
Tensor maximum(const Tensor& a, const Tensor& b, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(maximum_op(), {a, b});
}
Tensor minimum(const Tensor& a, const Tensor& b, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(minimum_op(), {a, b});
}
Tensor eq(const Tensor& a, const Tensor& b, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(eq_op(), {a, b});
}
Tensor ne(const Tensor& a, const Tensor& b, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(ne_op(), {a, b});
}
Tensor lt(const Tensor& a, const Tensor& b, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(lt_op(), {a, b});
}
Tensor le(const Tensor& a, const Tensor& b, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(le_op(), {a, b});
}
Tensor gt(const Tensor& a, const Tensor& b, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(gt_op(), {a, b});
}
Tensor ge(const Tensor& a, const Tensor& b, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(ge_op(), {a, b});
}
Tensor gt(const Tensor& a, double b, std::source_location loc) {
  LocationScope scope(loc);
  return gt(a, scalar_like(a, b));
}
Tensor lt(const Tensor& a, double b, std::source_location loc) {
  LocationScope scope(loc);
  return lt(a, scalar_like(a, b));
}
Tensor where(const Tensor& c, const Tensor& a, const Tensor& b, std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(where_op(), {c, a, b});
}

}  // namespace duet
