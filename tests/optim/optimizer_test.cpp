// SGD, Adam, AdamW against PyTorch's formulas computed by hand in double; the update ops;
// the lr and step counts living in tensors; apply_gradients.
#include <cmath>
#include <memory>

#include "duet/optim.h"
#include "ops/op_def.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

const std::vector<double> kP0 = {1.0, -2.0, 0.5, 3.0};
const std::vector<double> kG1 = {0.1, -0.2, 0.3, -0.4};
const std::vector<double> kG2 = {-0.5, 0.25, 0.05, 1.0};

Tensor param(DType dt = float64) {
  return Tensor::from_vector(kP0, {2, 2}, dt).requires_grad_();
}

void set_grad(const Tensor& p, const std::vector<double>& g) {
  p.set_grad(Tensor::from_vector(g, p.shape(), p.dtype()));
}

// torch.optim.SGD, single tensor, in double.
struct SgdRef {
  double lr, momentum = 0, dampening = 0, wd = 0;
  bool nesterov = false;
  std::vector<double> p = kP0, buf;
  void step(const std::vector<double>& grad) {
    const bool first = buf.empty();
    if (first) buf.assign(p.size(), 0.0);
    for (size_t i = 0; i < p.size(); ++i) {
      double d = grad[i] + wd * p[i];
      if (momentum != 0) {
        buf[i] = first ? d : momentum * buf[i] + (1 - dampening) * d;
        d = nesterov ? d + momentum * buf[i] : buf[i];
      }
      p[i] -= lr * d;
    }
  }
};

// torch.optim.Adam / AdamW, single tensor, in double.
struct AdamRef {
  double lr, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0;
  bool decoupled = false;
  std::vector<double> p = kP0, m = std::vector<double>(4, 0.0), v = std::vector<double>(4, 0.0);
  int step_count = 0;
  void step(const std::vector<double>& grad) {
    ++step_count;
    const double bc1 = 1 - std::pow(b1, step_count), bc2 = 1 - std::pow(b2, step_count);
    for (size_t i = 0; i < p.size(); ++i) {
      double g = grad[i];
      if (decoupled)
        p[i] *= 1 - lr * wd;
      else
        g += wd * p[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      const double denom = std::sqrt(v[i]) / std::sqrt(bc2) + eps;
      p[i] -= lr / bc1 * m[i] / denom;
    }
  }
};

}  // namespace

TEST(SGD, PlainStep) {
  Tensor p = param();
  optim::SGD opt({p}, 0.1);
  set_grad(p, kG1);
  opt.step();
  SgdRef ref{.lr = 0.1};
  ref.step(kG1);
  expect_values(p, ref.p, 1e-12);
  expect_values(p, {1.0 - 0.01, -2.0 + 0.02, 0.5 - 0.03, 3.0 + 0.04}, 1e-12);
  EXPECT_FALSE(opt.state(0).get("momentum_buffer").defined());
  EXPECT_TRUE(p.requires_grad());
  EXPECT_TRUE(p.is_leaf());
}

TEST(SGD, MomentumTwoStepsFirstBufferIsGrad) {
  Tensor p = param();
  optim::SGD opt({p}, 0.1, 0.9, /*dampening=*/0.5);
  SgdRef ref{.lr = 0.1, .momentum = 0.9, .dampening = 0.5};
  set_grad(p, kG1);
  opt.step();
  ref.step(kG1);
  // First step: buf = grad, no dampening applied.
  expect_values(opt.state(0).get("momentum_buffer"), kG1, 1e-12);
  expect_values(p, ref.p, 1e-12);
  set_grad(p, kG2);
  opt.step();
  ref.step(kG2);
  expect_values(p, ref.p, 1e-12);
  // Hand value for element 0: buf = 0.9 * 0.1 + 0.5 * -0.5 = -0.16; p = 0.99 - 0.1 * -0.16
  EXPECT_NEAR(p.to_vector<double>()[0], 0.99 + 0.016, 1e-12);
  expect_values(opt.state(0).get("momentum_buffer"), ref.buf, 1e-12);
  EXPECT_EQ(opt.state(0).step(), 2);
}

TEST(SGD, NesterovAndWeightDecay) {
  Tensor p = param();
  optim::SGD opt({p}, 0.05, 0.9, 0.0, /*weight_decay=*/0.01, /*nesterov=*/true);
  SgdRef ref{.lr = 0.05, .momentum = 0.9, .wd = 0.01, .nesterov = true};
  for (const auto& g : {kG1, kG2}) {
    set_grad(p, g);
    opt.step();
    ref.step(g);
    expect_values(p, ref.p, 1e-12);
  }
  // Weight decay alone, one step: p -= lr * (g + wd * p).
  Tensor q = param();
  optim::SGD wd_only({q}, 0.1, 0.0, 0.0, 0.5);
  set_grad(q, kG1);
  wd_only.step();
  expect_values(q,
                {1.0 - 0.1 * (0.1 + 0.5), -2.0 - 0.1 * (-0.2 - 1.0), 0.5 - 0.1 * (0.3 + 0.25),
                 3.0 - 0.1 * (-0.4 + 1.5)},
                1e-12);
}

TEST(SGD, SkipsParamsWithoutGradAndFloat32) {
  Tensor a = param(float32), b = param(float32);
  optim::SGD opt({a, b}, 0.1, 0.9);
  set_grad(a, kG1);
  opt.step();
  SgdRef ref{.lr = 0.1, .momentum = 0.9};
  ref.step(kG1);
  expect_values(a, ref.p, 1e-6);
  expect_values(b, kP0, 0);  // untouched
  // The buffer exists from construction on (zeros) but b was never updated.
  expect_values(opt.state(1).get("momentum_buffer"), {0, 0, 0, 0}, 0);
  EXPECT_EQ(opt.state(1).step(), 0);
  EXPECT_EQ(opt.state(0).step(), 1);
  opt.zero_grad();
  EXPECT_FALSE(a.grad().defined());
}

TEST(SGD, ArgumentErrors) {
  Tensor p = param();
  EXPECT_DUET_ERROR(optim::SGD({p}, -1.0), "SGD", "lr = -1");
  EXPECT_DUET_ERROR(optim::SGD({p}, 0.1, 0.0, 0.0, 0.0, true), "SGD", "nesterov");
  EXPECT_DUET_ERROR(optim::SGD({p * 2.0}, 0.1), "SGD", "leaf");
  EXPECT_DUET_ERROR(optim::SGD({Tensor::zeros({2}, int64)}, 0.1), "SGD", "int64");
  optim::SGD opt({p}, 0.1);
  EXPECT_DUET_ERROR(opt.state(3), "SGD", "index 3");
}

TEST(Adam, TwoStepsMatchPyTorchFormulas) {
  for (DType dt : {float64, float32}) {
    Tensor p = param(dt);
    optim::Adam opt({p}, 0.01);
    AdamRef ref{.lr = 0.01};
    for (const auto& g : {kG1, kG2}) {
      set_grad(p, g);
      opt.step();
      ref.step(g);
      expect_values(p, ref.p, dt == float64 ? 1e-12 : 1e-6);
    }
    expect_values(opt.state(0).get("exp_avg"), ref.m, dt == float64 ? 1e-12 : 1e-6);
    expect_values(opt.state(0).get("exp_avg_sq"), ref.v, dt == float64 ? 1e-12 : 1e-6);
    EXPECT_EQ(opt.state(0).step(), 2);
  }
  // Step 1 by hand: m = 0.1 g, v = 0.001 g^2, m_hat / sqrt(v_hat) = sign(g): p -= lr * sign(g).
  Tensor p = param();
  optim::Adam opt({p}, 0.01, {0.9, 0.999}, 0.0);
  set_grad(p, kG1);
  opt.step();
  expect_values(p, {0.99, -1.99, 0.49, 3.01}, 1e-12);
}

TEST(Adam, L2WeightDecayIsCoupled) {
  Tensor p = param();
  optim::Adam opt({p}, 0.01, {0.8, 0.99}, 1e-6, /*weight_decay=*/0.1);
  AdamRef ref{.lr = 0.01, .b1 = 0.8, .b2 = 0.99, .eps = 1e-6, .wd = 0.1};
  for (const auto& g : {kG1, kG2}) {
    set_grad(p, g);
    opt.step();
    ref.step(g);
    expect_values(p, ref.p, 1e-12);
  }
}

TEST(AdamW, DecoupledWeightDecay) {
  Tensor p = param();
  optim::AdamW opt({p}, 0.01);  // weight_decay 1e-2 by default
  EXPECT_EQ(opt.weight_decay, 1e-2);
  EXPECT_EQ(opt.name(), "AdamW");
  AdamRef ref{.lr = 0.01, .wd = 1e-2, .decoupled = true};
  for (const auto& g : {kG1, kG2}) {
    set_grad(p, g);
    opt.step();
    ref.step(g);
    expect_values(p, ref.p, 1e-12);
  }
  // Differs from Adam's coupled decay.
  AdamRef coupled{.lr = 0.01, .wd = 1e-2};
  coupled.step(kG1);
  coupled.step(kG2);
  EXPECT_GT(std::abs(coupled.p[0] - ref.p[0]), 1e-9);
  EXPECT_DUET_ERROR(optim::Adam({param()}, 0.01, {1.0, 0.999}), "Adam", "betas");
}

TEST(UpdateOps, AreRegisteredOpsWithErrors) {
  // Appending the update to a graph needs the op in the table (no gradient, mutates inputs).
  Tensor p = Tensor::from_vector(kP0, {4}, float64), g = Tensor::from_vector(kG1, {4}, float64);
  Tensor buf = Tensor::zeros({4}, float64);
  Tensor lr = Tensor::scalar(0.1, float64), step = Tensor::zeros({}, int64);
  optim::sgd_step_(p, g, buf, lr, step, {.momentum = 0.9});
  expect_values(buf, kG1, 1e-12);  // step was 0: the buffer starts as the gradient
  EXPECT_EQ(step.item<int64_t>(), 1);
  expect_values(p, {0.99, -1.98, 0.47, 3.04}, 1e-12);
  // Second call: step is 1 now, so the buffer accumulates: buf = 0.9 * g + g.
  optim::sgd_step_(p, g, buf, lr, step, {.momentum = 0.9});
  expect_values(buf, {0.19, -0.38, 0.57, -0.76}, 1e-12);
  EXPECT_EQ(step.item<int64_t>(), 2);
  const OpDef* sgd = find_op("sgd_step_");
  ASSERT_NE(sgd, nullptr);
  EXPECT_EQ(sgd->grad, nullptr);
  EXPECT_EQ(sgd->num_outputs, 0);
  EXPECT_EQ(sgd->mutates_inputs, 0b11001u);  // param, step, momentum_buf
  Tensor m = Tensor::zeros({4}, float64), v = Tensor::zeros({4}, float64);
  Tensor astep = Tensor::zeros({}, int64);
  optim::adam_step_(p, g, m, v, lr, astep, {});
  EXPECT_EQ(astep.item<int64_t>(), 1);
  const OpDef* adam = find_op("adam_step_");
  ASSERT_NE(adam, nullptr);
  EXPECT_EQ(adam->grad, nullptr);
  EXPECT_EQ(adam->mutates_inputs, 0b101101u);  // param, exp_avg, exp_avg_sq, step

  EXPECT_DUET_ERROR(optim::sgd_step_(p, Tensor::zeros({3}, float64), Tensor(), lr, step, {}),
                    "sgd_step_", "grad", "(3,)", "(4,)");
  EXPECT_DUET_ERROR(optim::sgd_step_(p, Tensor::zeros({4}), Tensor(), lr, step, {}), "sgd_step_",
                    "float32", "float64");
  EXPECT_DUET_ERROR(optim::sgd_step_(p, g, Tensor(), lr, step, {.momentum = 0.9}), "sgd_step_",
                    "momentum buffer");
  EXPECT_DUET_ERROR(
      optim::sgd_step_(p, g, Tensor::zeros({2}, float64), lr, step, {.momentum = 0.9}), "sgd_step_",
      "momentum_buf", "(2,)");
  EXPECT_DUET_ERROR(optim::sgd_step_(p, g, Tensor(), Tensor::scalar(0.1), step, {}), "sgd_step_",
                    "lr", "float32", "float64 scalar");
  EXPECT_DUET_ERROR(optim::sgd_step_(p, g, Tensor(), lr, Tensor::zeros({1}, int64), {}),
                    "sgd_step_", "step", "(1,)", "int64 scalar");
  EXPECT_DUET_ERROR(optim::adam_step_(p, g, m, Tensor::zeros({2, 2}, float64), lr, astep, {}),
                    "adam_step_", "exp_avg_sq", "(2, 2)");
  EXPECT_DUET_ERROR(optim::adam_step_(p, g, m, v, lr, Tensor::zeros({}, float64), {}), "adam_step_",
                    "step", "float64", "int64 scalar");
  EXPECT_DUET_ERROR(optim::adam_step_(p, g, m, v, lr, astep, {.beta1 = 1.0}), "adam_step_",
                    "betas");
  // A parameter that requires grad is written outside autograd (the functions guard it).
  Tensor q = Tensor::from_vector(kP0, {4}, float64).requires_grad_();
  optim::sgd_step_(q, g, Tensor(), Tensor::scalar(1.0, float64), Tensor::zeros({}, int64), {});
  expect_values(q, {0.9, -1.8, 0.2, 3.4}, 1e-12);
  EXPECT_TRUE(q.is_leaf());
}

TEST(UpdateOps, AdamBiasCorrectionUsesTheIncrementedStep) {
  // A step tensor at 4 means this is update 5: bias corrections 1 - beta^5.
  Tensor p = Tensor::from_vector(kP0, {4}, float64), g = Tensor::from_vector(kG1, {4}, float64);
  Tensor m = Tensor::from_vector(kG2, {4}, float64), v = Tensor::full({4}, 0.04, float64);
  Tensor step = Tensor::full({}, 4, int64);
  optim::adam_step_(p, g, m, v, Tensor::scalar(0.01, float64), step, {.beta1 = 0.8, .beta2 = 0.9});
  EXPECT_EQ(step.item<int64_t>(), 5);
  const double bc1 = 1 - std::pow(0.8, 5), bc2 = 1 - std::pow(0.9, 5);
  std::vector<double> expect(4);
  for (int i = 0; i < 4; ++i) {
    const double mi = 0.8 * kG2[i] + 0.2 * kG1[i], vi = 0.9 * 0.04 + 0.1 * kG1[i] * kG1[i];
    expect[i] = kP0[i] - 0.01 / bc1 * mi / (std::sqrt(vi) / std::sqrt(bc2) + 1e-8);
  }
  expect_values(p, expect, 1e-12);
}

TEST(UpdateOps, LargeTensorsRunInParallelAndMatch) {
  // Big enough for the parallel path; compare against the double reference elementwise.
  const int64_t n = 100000;
  Generator gen(7);
  Tensor p = Tensor::randn({n}, gen, float64), g = Tensor::randn({n}, gen, float64);
  std::vector<double> p0 = p.to_vector<double>(), gv = g.to_vector<double>();
  Tensor m = Tensor::zeros({n}, float64), v = Tensor::zeros({n}, float64);
  Tensor step = Tensor::zeros({}, int64);
  optim::adam_step_(p, g, m, v, Tensor::scalar(0.1, float64), step,
                    {.weight_decay = 0.1, .decoupled = true});
  EXPECT_EQ(step.item<int64_t>(), 1);
  std::vector<double> out = p.to_vector<double>();
  for (int64_t i = 0; i < n; i += 997) {
    const double pd = p0[i] * (1 - 0.01);
    const double mi = 0.1 * gv[i], vi = 0.001 * gv[i] * gv[i];
    const double expect = pd - 0.1 / 0.1 * mi / (std::sqrt(vi) / std::sqrt(0.001) + 1e-8);
    ASSERT_NEAR(out[i], expect, 1e-10) << i;
  }
}

TEST(Optimizer, LrAndStepCountsLiveInTensors) {
  Tensor a = param(), b = param(float32);
  optim::SGD sgd({a}, 0.1, 0.9);
  optim::Adam adam({b}, 0.01);
  // Two optimizers, two lr tensors: float64 scalars owned by each optimizer.
  EXPECT_FALSE(sgd.lr_tensor().is_same(adam.lr_tensor()));
  EXPECT_EQ(sgd.lr_tensor().dtype(), float64);
  EXPECT_EQ(sgd.lr_tensor().shape(), Shape{});
  EXPECT_EQ(adam.lr_tensor().item<double>(), 0.01);
  // set_lr writes the same tensor in place (a compiled graph holding it sees the change).
  Tensor lr_handle = sgd.lr_tensor();
  sgd.set_lr(0.25);
  EXPECT_TRUE(sgd.lr_tensor().is_same(lr_handle));
  EXPECT_EQ(lr_handle.item<double>(), 0.25);
  EXPECT_EQ(sgd.lr(), 0.25);
  EXPECT_EQ(adam.lr(), 0.01);
  EXPECT_DUET_ERROR(sgd.set_lr(-1.0), "SGD", "lr = -1");
  EXPECT_EQ(sgd.lr(), 0.25);
  // Every state tensor exists from construction on, zero-filled; step is an int64 scalar.
  for (const optim::Optimizer* opt :
       {static_cast<optim::Optimizer*>(&sgd), static_cast<optim::Optimizer*>(&adam)}) {
    Tensor step = opt->state(0).get("step");
    ASSERT_TRUE(step.defined());
    EXPECT_EQ(step.dtype(), int64);
    EXPECT_EQ(step.shape(), Shape{});
    EXPECT_EQ(step.item<int64_t>(), 0);
  }
  Tensor buf = sgd.state(0).get("momentum_buffer"), m = adam.state(0).get("exp_avg");
  ASSERT_TRUE(buf.defined());
  ASSERT_TRUE(m.defined());
  EXPECT_EQ(m.dtype(), float32);
  // Steps update those very tensors in place.
  Tensor sgd_step = sgd.state(0).get("step"), adam_step = adam.state(0).get("step");
  set_grad(a, kG1);
  set_grad(b, kG1);
  sgd.step();
  adam.step();
  adam.step();
  EXPECT_EQ(sgd_step.item<int64_t>(), 1);
  EXPECT_EQ(adam_step.item<int64_t>(), 2);
  EXPECT_EQ(sgd.state(0).step(), 1);
  EXPECT_EQ(adam.state(0).step(), 2);
  EXPECT_TRUE(sgd.state(0).get("momentum_buffer").is_same(buf));
  EXPECT_TRUE(adam.state(0).get("exp_avg").is_same(m));
  // The lr set after construction is the one the update used: p -= 0.25 * g (first step).
  expect_values(a, {1.0 - 0.025, -2.0 + 0.05, 0.5 - 0.075, 3.0 + 0.1}, 1e-12);
}

TEST(Optimizer, ApplyGradientsEqualsStep) {
  for (int which = 0; which < 3; ++which) {
    Tensor p1 = param(), q1 = param(), p2 = param(), q2 = param();
    auto make = [&](std::vector<Tensor> ps) -> std::unique_ptr<optim::Optimizer> {
      if (which == 0) return std::make_unique<optim::SGD>(ps, 0.1, 0.9, 0.1, 0.01);
      if (which == 1) return std::make_unique<optim::Adam>(ps, 0.01, std::pair{0.8, 0.99});
      return std::make_unique<optim::AdamW>(ps, 0.01);
    };
    auto by_step = make({p1, q1});
    auto by_apply = make({p2, q2});
    for (const auto& g : {kG1, kG2}) {
      set_grad(p1, g);  // q1 has no gradient: skipped
      by_step->step();
      Tensor grad = Tensor::from_vector(g, {2, 2}, float64);
      by_apply->apply_gradients({grad, Tensor()});  // explicit grads; .grad() is not read
      EXPECT_FALSE(p2.grad().defined());
      expect_values(p2, p1.to_vector<double>(), 0);
      expect_values(q2, kP0, 0);
      expect_values(q1, kP0, 0);
    }
    EXPECT_EQ(by_apply->state(0).step(), 2);
    EXPECT_EQ(by_apply->state(1).step(), 0);
    for (const auto& [key, t] : by_step->state(0).tensors)
      expect_values(by_apply->state(0).get(key), t.to_vector<double>(), 0);
    // One gradient per parameter, each shaped like its parameter.
    EXPECT_DUET_ERROR(by_apply->apply_gradients({Tensor()}), "1 gradients for 2 parameters");
    EXPECT_DUET_ERROR(by_apply->apply_gradients({Tensor::zeros({4}, float64), Tensor()}),
                      "gradient 0", "(4,)", "(2, 2)");
  }
}
