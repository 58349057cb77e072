// The multi-tensor update ops (src/ops/multi_tensor_ops.h) on the CPU: bit-identical to the
// per-parameter ops (also when the list spans several calls, mixes dtypes or repeats a
// tensor), their OpDefs, their errors, and when the optimizers may use them.
#include "duet/autograd.h"
#include "duet/graph.h"
#include "duet/ops.h"
#include "duet/optim.h"
#include "ops/multi_tensor_ops.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

std::vector<Tensor> clones(const std::vector<Tensor>& ts) {
  std::vector<Tensor> r;
  for (const Tensor& t : ts) r.push_back(t.clone());
  return r;
}

void expect_bits(const std::vector<Tensor>& a, const std::vector<Tensor>& b,
                 const std::string& what) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE(what + " " + std::to_string(i));
    ASSERT_EQ(a[i].dtype(), b[i].dtype());
    EXPECT_EQ(a[i].to_vector<double>(), b[i].to_vector<double>());
  }
}

struct Params {
  std::vector<Tensor> p, g, a, b, steps;
};

// 14 parameters (more than one call holds), float32 and float64 mixed, some step counts > 0.
Params make(uint64_t seed) {
  Generator gen(seed);
  Params r;
  for (int i = 0; i < 14; ++i) {
    const DType dt = i % 5 == 4 ? float64 : float32;
    const Shape s = i % 3 == 0 ? Shape{7, 5} : Shape{static_cast<int64_t>(1 + 40 * i)};
    r.p.push_back(Tensor::randn(s, gen, dt));
    r.g.push_back(Tensor::randn(s, gen, dt));
    r.a.push_back(Tensor::zeros(s, dt));
    r.b.push_back(Tensor::zeros(s, dt));
    r.steps.push_back(Tensor::full({}, static_cast<double>(i % 2), int64));
  }
  return r;
}

Params copy(const Params& x) {
  return {clones(x.p), x.g, clones(x.a), clones(x.b), clones(x.steps)};
}

}  // namespace

TEST(MultiTensorOps, AdamBitIdenticalToPerParameter) {
  for (bool decoupled : {false, true}) {
    const optim::AdamUpdate u{.beta1 = 0.8, .weight_decay = 0.05, .decoupled = decoupled};
    Params one = make(1), multi = copy(one);
    Tensor lr = Tensor::full({}, 0.01, float64);
    for (int step = 0; step < 3; ++step) {
      for (size_t i = 0; i < one.p.size(); ++i)
        optim::adam_step_(one.p[i], one.g[i], one.a[i], one.b[i], lr, one.steps[i], u);
      optim::adam_step_multi_(multi.p, multi.g, multi.a, multi.b, multi.steps, lr, u);
    }
    expect_bits(multi.p, one.p, "param");
    expect_bits(multi.a, one.a, "exp_avg");
    expect_bits(multi.b, one.b, "exp_avg_sq");
    expect_bits(multi.steps, one.steps, "step");
  }
}

TEST(MultiTensorOps, SgdBitIdenticalToPerParameter) {
  for (double momentum : {0.0, 0.9}) {
    const optim::SgdUpdate u{.momentum = momentum, .weight_decay = 1e-2, .nesterov = momentum > 0};
    Params one = make(2), multi = copy(one);
    Tensor lr = Tensor::full({}, 0.1, float64);
    for (int step = 0; step < 3; ++step) {
      for (size_t i = 0; i < one.p.size(); ++i)
        optim::sgd_step_(one.p[i], one.g[i], momentum > 0 ? one.a[i] : Tensor(), lr, one.steps[i],
                         u);
      optim::sgd_step_multi_(multi.p, multi.g, momentum > 0 ? multi.a : std::vector<Tensor>{},
                             multi.steps, lr, u);
    }
    expect_bits(multi.p, one.p, "param");
    expect_bits(multi.a, one.a, "momentum_buffer");
    expect_bits(multi.steps, one.steps, "step");
  }
}

// A tensor listed twice is updated twice, in order, as the per-parameter loop would.
TEST(MultiTensorOps, RepeatedParameterUpdatedTwice) {
  Tensor p = Tensor::from_vector({1.0, 2.0}, {2}), g = Tensor::from_vector({0.5, -1.0}, {2});
  Tensor s1 = Tensor::zeros({}, int64), s2 = Tensor::zeros({}, int64);
  Tensor lr = Tensor::full({}, 0.1, float64);
  optim::sgd_step_multi_({p, p}, {g, g}, {}, {s1, s2}, lr, {});
  expect_values(p, {1.0 - 2 * 0.05, 2.0 + 2 * 0.1}, 1e-7);
  EXPECT_EQ(s1.item<int64_t>(), 1);
  EXPECT_EQ(s2.item<int64_t>(), 1);
}

TEST(MultiTensorOps, OpDefs) {
  const OpDef& adam = adam_step_multi_def();
  EXPECT_EQ(adam.name, "adam_step_multi_");
  EXPECT_EQ(adam.num_inputs, -1);
  EXPECT_EQ(adam.num_outputs, 0);
  EXPECT_EQ(adam.grad, nullptr);
  // input 0 is lr; per group (param, grad, exp_avg, exp_avg_sq, step) all but grad are written
  EXPECT_EQ(adam.mutates_inputs & 0b111111u, 0b111010u);
  EXPECT_EQ(adam.mutates_inputs >> 6 & 0b11111u, 0b11101u);
  EXPECT_EQ(adam.mutates_inputs >> 31, 0u);
  const OpDef& sgd = sgd_step_multi_def();
  EXPECT_EQ(sgd.mutates_inputs & 0b1111111u, 0b1011010u);  // param and step
  const OpDef& sgdm = sgd_momentum_step_multi_def();
  EXPECT_EQ(sgdm.mutates_inputs & 0b111111111u, 0b110111010u);  // param, step, buffer
  EXPECT_NE(adam.kernels[0], nullptr);
}

TEST(MultiTensorOps, Errors) {
  Tensor lr = Tensor::full({}, 0.1, float64);
  Tensor p = Tensor::zeros({3}), g = Tensor::zeros({3}), s = Tensor::zeros({}, int64);
  Attrs adam;
  adam.set("beta1", 0.9)
      .set("beta2", 0.999)
      .set("eps", 1e-8)
      .set("weight_decay", 0.0)
      .set("decoupled", false);
  NoGradGuard no_grad;
  EXPECT_DUET_ERROR(call_op(adam_step_multi_def(), {lr, p, g, p}, adam), "adam_step_multi_",
                    "4 inputs", "param, grad, exp_avg, exp_avg_sq, step");
  EXPECT_DUET_ERROR(
      call_op(adam_step_multi_def(), {lr, p, Tensor::zeros({4}), p.clone(), p.clone(), s}, adam),
      "adam_step_multi_", "grad", "(4,)", "(3,)");
  EXPECT_DUET_ERROR(call_op(adam_step_multi_def(),
                            {lr, p, g, p.clone(), p.clone(), s, Tensor::zeros({3}, float64),
                             Tensor::zeros({3}, float64), Tensor::zeros({3}, float64),
                             Tensor::zeros({3}, float64), s.clone()},
                            adam),
                    "adam_step_multi_", "parameter 1", "float64", "one dtype per call");
  EXPECT_DUET_ERROR(
      call_op(adam_step_multi_def(), {Tensor::full({}, 0.1), p, g, p.clone(), p.clone(), s}, adam),
      "adam_step_multi_", "lr", "float64 scalar");
  std::vector<Tensor> many{lr};
  for (int i = 0; i < 7; ++i)
    for (int j = 0; j < 5; ++j) many.push_back(j == 4 ? s : p);
  EXPECT_DUET_ERROR(call_op(adam_step_multi_def(), many, adam), "adam_step_multi_", "7 parameters",
                    "at most 6");
  Attrs sgd;
  sgd.set("momentum", 0.9).set("dampening", 0.0).set("weight_decay", 0.0).set("nesterov", false);
  EXPECT_DUET_ERROR(call_op(sgd_step_multi_def(), {lr, p, g, s}, Attrs(sgd).set("buffers", true)),
                    "sgd_step_multi_", "buffers");
  EXPECT_DUET_ERROR(call_op(sgd_step_multi_def(), {lr, p, g, s}, Attrs(sgd).set("buffers", false)),
                    "sgd_step_multi_", "momentum", "needs a momentum buffer");
  EXPECT_DUET_ERROR(optim::sgd_step_multi_({p}, {g}, {}, {s}, lr, {.momentum = 0.9}),
                    "sgd_step_multi_", "momentum buffers");
  EXPECT_DUET_ERROR(optim::adam_step_multi_({p}, {g}, {}, {}, {s}, lr, {}), "adam_step_multi_",
                    "one of each per parameter");
}

TEST(MultiTensorOps, OptimizersUseThemOnlyEagerlyOnCuda) {
  std::vector<Tensor> params{Tensor::zeros({2}).requires_grad_()};
  std::vector<Tensor> grads{Tensor::ones({2})};
  EXPECT_FALSE(optim::multi_tensor_eligible(params, grads));  // CPU parameters
  EXPECT_FALSE(optim::multi_tensor_eligible({}, {}));
  set_recording_active(true);
  EXPECT_FALSE(optim::multi_tensor_eligible(params, grads));
  set_recording_active(false);
}
