// Optimizer updates as ops: sgd_step_ and adam_step_, and the small in-place increment_.
// They mutate their inputs (param, state, step counters), have no outputs and no gradient,
// so graph mode can append them after autodiff. The learning rate and the step count are
// tensor inputs (read at run time), never attributes frozen into a graph.
#include "optim_kernels.h"
#include "duet/autograd.h"
#include "duet/ops/inplace.h"
#include "duet/optim/updates.h"
#include "duet/source_location.h"
#include "ops/multi_tensor_ops.h"
#include "ops/op_def.h"
#include "ops/op_samples.h"

namespace duet {
namespace {

// Inputs [0, n): floating, with input 0's dtype and shape.
void expect_like_param(const InferArgs& a, size_t n, const char* const* names) {
  infer::expect_floating(a, 0);
  const TensorMeta& p = a.inputs[0];
  for (size_t i = 1; i < n; ++i) {
    const TensorMeta& t = a.inputs[i];
    DUET_CHECK(t.dtype == p.dtype, a.op, ": ", names[i], " has dtype ", t.dtype,
               " but param has dtype ", p.dtype, " (expected the same dtype)");
    DUET_CHECK(t.shape == p.shape, a.op, ": ", names[i], " has shape ", shape_str(t.shape),
               " but param has shape ", shape_str(p.shape), " (expected the same shape)");
  }
}

// lr: float64 scalar; step: int64 scalar.
void expect_lr_and_step(const InferArgs& a, size_t lr, size_t step) {
  const TensorMeta& l = a.inputs[lr];
  const TensorMeta& s = a.inputs[step];
  DUET_CHECK(l.dtype == DType::float64 && l.shape.empty(), a.op, ": lr has shape ",
             shape_str(l.shape), " ", l.dtype, " (expected a float64 scalar of shape ())");
  DUET_CHECK(s.dtype == DType::int64 && s.shape.empty(), a.op, ": step has shape ",
             shape_str(s.shape), " ", s.dtype, " (expected an int64 scalar of shape ())");
}

// Loss scaling (duet/amp.h): with attr gated = true the last input is found_inf, a float32
// scalar; the kernel changes nothing when it is nonzero. Returns the count of the other inputs.
size_t ungated_inputs(const InferArgs& a) {
  if (!a.attrs.b("gated", false)) return a.inputs.size();
  DUET_CHECK(!a.inputs.empty(), a.op, ": gated = true but got no inputs (expected found_inf last)");
  const TensorMeta& f = a.inputs.back();
  DUET_CHECK(f.dtype == DType::float32 && f.shape.empty(), a.op,
             ": found_inf (the last input, gated = true) has shape ", shape_str(f.shape), " ",
             f.dtype, " (expected a float32 scalar of shape ())");
  return a.inputs.size() - 1;
}

// inputs: param, grad, lr, step[, momentum_buf][, found_inf (gated)]
std::vector<TensorMeta> sgd_step_infer(const InferArgs& a) {
  const double momentum = a.attrs.f("momentum");
  const double dampening = a.attrs.f("dampening"), weight_decay = a.attrs.f("weight_decay");
  const size_t n = ungated_inputs(a);
  DUET_CHECK(n == 4 || n == 5, a.op, ": got ", n,
             " inputs (expected param, grad, lr, step and optionally momentum_buf",
             a.attrs.b("gated", false) ? ", then found_inf)" : ")");
  DUET_CHECK(momentum == 0.0 || n == 5, a.op, ": momentum = ", momentum,
             " needs a momentum buffer (expected 5 inputs, got ", n, ")");
  DUET_CHECK(momentum >= 0.0, a.op, ": momentum = ", momentum, " (expected >= 0)");
  DUET_CHECK(weight_decay >= 0.0, a.op, ": weight_decay = ", weight_decay, " (expected >= 0)");
  DUET_CHECK(!a.attrs.b("nesterov") || (momentum > 0.0 && dampening == 0.0), a.op,
             ": nesterov needs momentum > 0 and dampening = 0 (got momentum = ", momentum,
             ", dampening = ", dampening, ")");
  static const char* const names[] = {"param", "grad"};
  expect_like_param(a, 2, names);
  expect_lr_and_step(a, 2, 3);
  if (n == 5) {
    const TensorMeta& p = a.inputs[0];
    const TensorMeta& b = a.inputs[4];
    DUET_CHECK(b.dtype == p.dtype && b.shape == p.shape, a.op, ": momentum_buf has shape ",
               shape_str(b.shape), " ", b.dtype, " but param has shape ", shape_str(p.shape), " ",
               p.dtype, " (expected the same shape and dtype)");
  }
  return {};
}

// inputs: param, grad, exp_avg, exp_avg_sq, lr, step[, found_inf (gated)]
std::vector<TensorMeta> adam_step_infer(const InferArgs& a) {
  const size_t n = ungated_inputs(a);
  DUET_CHECK(n == 6, a.op, ": got ", n, " inputs (expected param, grad, exp_avg, exp_avg_sq, lr",
             a.attrs.b("gated", false) ? ", step, then found_inf)" : " and step)");
  const double beta1 = a.attrs.f("beta1"), beta2 = a.attrs.f("beta2");
  const double eps = a.attrs.f("eps"), weight_decay = a.attrs.f("weight_decay");
  DUET_CHECK(beta1 >= 0.0 && beta1 < 1.0 && beta2 >= 0.0 && beta2 < 1.0, a.op, ": betas = (", beta1,
             ", ", beta2, ") (expected each in [0, 1))");
  DUET_CHECK(eps >= 0.0, a.op, ": eps = ", eps, " (expected >= 0)");
  DUET_CHECK(weight_decay >= 0.0, a.op, ": weight_decay = ", weight_decay, " (expected >= 0)");
  static const char* const names[] = {"param", "grad", "exp_avg", "exp_avg_sq"};
  expect_like_param(a, 4, names);
  expect_lr_and_step(a, 4, 5);
  return {};
}

// inputs: x (int64 or floating, any shape); mutates x.
std::vector<TensorMeta> increment_infer(const InferArgs& a) {
  const DType t = a.inputs[0].dtype;
  DUET_CHECK(t == DType::int64 || is_floating(t), a.op, ": x has dtype ", t,
             " (expected int64, float32 or float64)");
  return {};
}

// ---- test samples (src/ops/op_samples.h, tests/ops_table/) --------------------------------------

Attrs sgd_sample(double momentum, double dampening, double weight_decay, bool nesterov) {
  return Attrs()
      .set("momentum", momentum)
      .set("dampening", dampening)
      .set("weight_decay", weight_decay)
      .set("nesterov", nesterov);
}
Attrs adam_sample(double weight_decay, bool decoupled) {
  return Attrs()
      .set("beta1", 0.9)
      .set("beta2", 0.999)
      .set("eps", 1e-8)
      .set("weight_decay", weight_decay)
      .set("decoupled", decoupled);
}
// (param, grad, lr, step [, momentum_buf]): plain, nesterov, dampened momentum.
std::vector<OpSample> sgd_step_samples() {
  using namespace samples;
  return {
      {.inputs = {normal({5}), normal({5}), lr(), step()}, .attrs = sgd_sample(0, 0, 0.01, false)},
      {.inputs = {normal({3, 4}), normal({3, 4}), lr(), step(), normal({3, 4})},
       .attrs = sgd_sample(0.9, 0, 0, true)},
      {.inputs = {normal({}), normal({}), lr(), step(), normal({})},
       .attrs = sgd_sample(0.9, 0.1, 0.01, false)},
      // gated (loss scaling): found_inf 0 updates, 1 changes nothing
      {.inputs = {normal({4}), normal({4}), lr(), step(), found_inf(0)},
       .attrs = sgd_sample(0, 0, 0.01, false).set("gated", true)},
      {.inputs = {normal({2, 3}), normal({2, 3}), lr(), step(), normal({2, 3}), found_inf(1)},
       .attrs = sgd_sample(0.9, 0, 0, false).set("gated", true)}};
}
// (param, grad, exp_avg, exp_avg_sq, lr, step): Adam with L2 decay and AdamW.
std::vector<OpSample> adam_step_samples() {
  using namespace samples;
  return {
      {.inputs = {normal({5}), normal({5}), normal({5}), positive({5}), lr(), step()},
       .attrs = adam_sample(0, false)},
      {.inputs = {normal({3, 4}), normal({3, 4}), normal({3, 4}), positive({3, 4}), lr(), step()},
       .attrs = adam_sample(0.01, false)},
      {.inputs = {normal({2, 3}), normal({2, 3}), normal({2, 3}), positive({2, 3}), lr(), step()},
       .attrs = adam_sample(0.01, true)},
      {.inputs = {normal({5}), normal({5}), normal({5}), positive({5}), lr(), step(), found_inf(0)},
       .attrs = adam_sample(0, false).set("gated", true)},
      {.inputs = {normal({5}), normal({5}), normal({5}), positive({5}), lr(), step(), found_inf(1)},
       .attrs = adam_sample(0.01, true).set("gated", true)}};
}
// A step counter and a floating tensor.
std::vector<OpSample> increment_samples() {
  using namespace samples;
  return {{.inputs = {step()}, .attrs = Attrs().set("value", 1.0)},
          {.inputs = {normal({3})}, .attrs = Attrs().set("value", 0.5)}};
}

}  // namespace

DUET_DEFINE_OP(sgd_step_op, {.id = OpId::sgd_step_,
                             .num_inputs = -1,
                             .num_outputs = 0,
                             .traits = static_cast<uint32_t>(OpTrait::optimizer_update),
                             .infer = sgd_step_infer,
                             .mutates_inputs = 0b11001,
                             .nondiff_inputs = 0b111111,
                             .kernels = {cpu_kernels::sgd_step},
                             .samples = sgd_step_samples,
                             .low_precision = false})
DUET_DEFINE_OP(adam_step_op, {.id = OpId::adam_step_,
                              .num_inputs = -1,
                              .num_outputs = 0,
                              .traits = static_cast<uint32_t>(OpTrait::optimizer_update),
                              .infer = adam_step_infer,
                              .mutates_inputs = 0b101101,
                              .nondiff_inputs = 0b1111111,
                              .kernels = {cpu_kernels::adam_step},
                              .samples = adam_step_samples,
                              .low_precision = false})
DUET_DEFINE_OP(increment_op, {.id = OpId::increment_,
                              .num_inputs = 1,
                              .num_outputs = 0,
                              .infer = increment_infer,
                              .mutates_inputs = 0b1,
                              .nondiff_inputs = 0b1,
                              .kernels = {cpu_kernels::increment},
                              .samples = increment_samples,
                              .low_precision = false})

// Declared in ops/multi_tensor_ops.h: the multi-tensor ops check each group with these.
const OpDef& sgd_step_def() {
  return sgd_step_op();
}
const OpDef& adam_step_def() {
  return adam_step_op();
}

void increment_(const Tensor& x, double value, std::source_location loc) {
  LocationScope scope(loc);
  Attrs attrs;
  attrs.set("value", value);
  NoGradGuard no_grad;
  call_op(increment_op(), {x}, attrs);
}

Attrs sgd_step_attrs(const optim::SgdUpdate& u) {
  Attrs attrs;
  attrs.set("momentum", u.momentum)
      .set("dampening", u.dampening)
      .set("weight_decay", u.weight_decay)
      .set("nesterov", u.nesterov);
  return attrs;
}

Attrs adam_step_attrs(const optim::AdamUpdate& u) {
  Attrs attrs;
  attrs.set("beta1", u.beta1)
      .set("beta2", u.beta2)
      .set("eps", u.eps)
      .set("weight_decay", u.weight_decay)
      .set("decoupled", u.decoupled);
  return attrs;
}

namespace optim {

void sgd_step_(const Tensor& param, const Tensor& grad, const Tensor& momentum_buf,
               const Tensor& lr, const Tensor& step, const SgdUpdate& u, std::source_location loc) {
  sgd_step_(param, grad, momentum_buf, lr, step, u, Tensor(), loc);
}

void sgd_step_(const Tensor& param, const Tensor& grad, const Tensor& momentum_buf,
               const Tensor& lr, const Tensor& step, const SgdUpdate& u, const Tensor& found_inf,
               std::source_location loc) {
  LocationScope scope(loc);
  Attrs attrs = sgd_step_attrs(u);
  DUET_CHECK(u.momentum == 0.0 || momentum_buf.defined(), "sgd_step_: momentum = ", u.momentum,
             " needs a momentum buffer (got an undefined tensor)");
  std::vector<Tensor> inputs{param, grad, lr, step};
  if (u.momentum != 0.0 || momentum_buf.defined()) inputs.push_back(momentum_buf);
  if (found_inf.defined()) {
    attrs.set("gated", true);
    inputs.push_back(found_inf);
  }
  NoGradGuard no_grad;
  call_op(sgd_step_op(), std::move(inputs), attrs);
}

void adam_step_(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                const Tensor& exp_avg_sq, const Tensor& lr, const Tensor& step, const AdamUpdate& u,
                std::source_location loc) {
  adam_step_(param, grad, exp_avg, exp_avg_sq, lr, step, u, Tensor(), loc);
}

void adam_step_(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                const Tensor& exp_avg_sq, const Tensor& lr, const Tensor& step, const AdamUpdate& u,
                const Tensor& found_inf, std::source_location loc) {
  LocationScope scope(loc);
  Attrs attrs = adam_step_attrs(u);
  std::vector<Tensor> inputs{param, grad, exp_avg, exp_avg_sq, lr, step};
  if (found_inf.defined()) {
    attrs.set("gated", true);
    inputs.push_back(found_inf);
  }
  NoGradGuard no_grad;
  call_op(adam_step_op(), std::move(inputs), attrs);
}

}  // namespace optim
}  // namespace duet
