// Optimizer updates as ops: sgd_step_ and adam_step_. They mutate their inputs (param and
// state), have no outputs and no gradient, so graph mode can append them after autodiff.
#include "cpu/optim_kernels.h"
#include "duet/autograd.h"
#include "duet/optim/updates.h"
#include "ops/op_def.h"

namespace duet {
namespace {

// Every input: floating, with input 0's dtype and shape.
void expect_like_param(const InferArgs& a, const char* const* names) {
  infer::expect_floating(a, 0);
  const TensorMeta& p = a.inputs[0];
  for (size_t i = 1; i < a.inputs.size(); ++i) {
    const TensorMeta& t = a.inputs[i];
    DUET_CHECK(t.dtype == p.dtype, a.op, ": ", names[i], " has dtype ", t.dtype,
               " but param has dtype ", p.dtype, " (expected the same dtype)");
    DUET_CHECK(t.shape == p.shape, a.op, ": ", names[i], " has shape ", shape_str(t.shape),
               " but param has shape ", shape_str(p.shape), " (expected the same shape)");
  }
}

std::vector<TensorMeta> sgd_step_infer(const InferArgs& a) {
  static const char* const names[] = {"param", "grad", "momentum_buf"};
  const double lr = a.attrs.f("lr"), momentum = a.attrs.f("momentum");
  const double dampening = a.attrs.f("dampening"), weight_decay = a.attrs.f("weight_decay");
  DUET_CHECK(a.inputs.size() == 2 || a.inputs.size() == 3, a.op, ": got ", a.inputs.size(),
             " inputs (expected param, grad and optionally momentum_buf)");
  DUET_CHECK(momentum == 0.0 || a.inputs.size() == 3, a.op, ": momentum = ", momentum,
             " needs a momentum buffer (expected 3 inputs, got ", a.inputs.size(), ")");
  DUET_CHECK(lr >= 0.0, a.op, ": lr = ", lr, " (expected >= 0)");
  DUET_CHECK(momentum >= 0.0, a.op, ": momentum = ", momentum, " (expected >= 0)");
  DUET_CHECK(weight_decay >= 0.0, a.op, ": weight_decay = ", weight_decay, " (expected >= 0)");
  DUET_CHECK(!a.attrs.b("nesterov") || (momentum > 0.0 && dampening == 0.0), a.op,
             ": nesterov needs momentum > 0 and dampening = 0 (got momentum = ", momentum,
             ", dampening = ", dampening, ")");
  expect_like_param(a, names);
  return {};
}

std::vector<TensorMeta> adam_step_infer(const InferArgs& a) {
  static const char* const names[] = {"param", "grad", "exp_avg", "exp_avg_sq"};
  const double lr = a.attrs.f("lr"), beta1 = a.attrs.f("beta1"), beta2 = a.attrs.f("beta2");
  const double eps = a.attrs.f("eps"), weight_decay = a.attrs.f("weight_decay");
  DUET_CHECK(lr >= 0.0, a.op, ": lr = ", lr, " (expected >= 0)");
  DUET_CHECK(beta1 >= 0.0 && beta1 < 1.0 && beta2 >= 0.0 && beta2 < 1.0, a.op, ": betas = (",
             beta1, ", ", beta2, ") (expected each in [0, 1))");
  DUET_CHECK(eps >= 0.0, a.op, ": eps = ", eps, " (expected >= 0)");
  DUET_CHECK(weight_decay >= 0.0, a.op, ": weight_decay = ", weight_decay, " (expected >= 0)");
  DUET_CHECK(a.attrs.i("step") >= 1, a.op, ": step = ", a.attrs.i("step"),
             " (expected the count after this update, >= 1)");
  expect_like_param(a, names);
  return {};
}

DUET_DEFINE_OP(sgd_step_op, {.name = "sgd_step_", .num_inputs = -1, .num_outputs = 0,
                             .infer = sgd_step_infer, .mutates_inputs = 0b101,
                             .nondiff_inputs = 0b111, .kernels = {cpu_kernels::sgd_step}})
DUET_DEFINE_OP(adam_step_op, {.name = "adam_step_", .num_inputs = 4, .num_outputs = 0,
                              .infer = adam_step_infer, .mutates_inputs = 0b1101,
                              .nondiff_inputs = 0b1111, .kernels = {cpu_kernels::adam_step}})

}  // namespace

namespace optim {

void sgd_step_(const Tensor& param, const Tensor& grad, const Tensor& momentum_buf,
               const SgdUpdate& u) {
  Attrs attrs;
  attrs.set("lr", u.lr)
      .set("momentum", u.momentum)
      .set("dampening", u.dampening)
      .set("weight_decay", u.weight_decay)
      .set("nesterov", u.nesterov)
      .set("first_step", u.first_step);
  DUET_CHECK(u.momentum == 0.0 || momentum_buf.defined(), "sgd_step_: momentum = ", u.momentum,
             " needs a momentum buffer (got an undefined tensor)");
  std::vector<Tensor> inputs{param, grad};
  if (u.momentum != 0.0 || momentum_buf.defined()) inputs.push_back(momentum_buf);
  NoGradGuard no_grad;
  call_op(sgd_step_op(), std::move(inputs), attrs);
}

void adam_step_(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                const Tensor& exp_avg_sq, const AdamUpdate& u) {
  Attrs attrs;
  attrs.set("lr", u.lr)
      .set("beta1", u.beta1)
      .set("beta2", u.beta2)
      .set("eps", u.eps)
      .set("weight_decay", u.weight_decay)
      .set("decoupled", u.decoupled)
      .set("step", u.step);
  NoGradGuard no_grad;
  call_op(adam_step_op(), {param, grad, exp_avg, exp_avg_sq}, attrs);
}

}  // namespace optim
}  // namespace duet
