// CUDA shape ops, optimizer updates and dropout against the CPU (label cuda; skipped without a
// device): concat along each axis, pad, strided slices and their backward, casts, clones of
// non-contiguous tensors, sum_to; SGD (momentum, nesterov, weight decay) and Adam/AdamW steps,
// the multi-tensor updates bit-identical to the per-parameter ops, the fused linear gradient +
// Adam op, increment_; dropout masks bit-identical to the CPU's.
#include <cmath>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "cuda_test_util.h"
#include "duet/optim.h"
#include "ops/fused_update_ops.h"
#include "ops/multi_tensor_ops.h"

using namespace duet;
using namespace duet::test;

namespace {

double tol(DType dt) {
  return dt == float64 ? 1e-12 : 1e-5;
}

// Bitwise equality of two tensors' values (any devices), NaN equal to NaN.
void expect_identical(const Tensor& a, const Tensor& b, const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_EQ(a.dtype(), b.dtype());
  ASSERT_EQ(shape_str(a.shape()), shape_str(b.shape()));
  std::vector<double> av = a.to(cpu).to_vector<double>(), bv = b.to(cpu).to_vector<double>();
  for (size_t i = 0; i < av.size(); ++i) {
    if (std::isnan(av[i]) && std::isnan(bv[i])) continue;
    ASSERT_EQ(av[i], bv[i]) << "at flat index " << i;
  }
}

std::vector<Tensor> copies(const std::vector<Tensor>& ts, Device d) {
  std::vector<Tensor> r;
  for (const Tensor& t : ts) r.push_back(t.detach().to(d).clone());
  return r;
}

}  // namespace

TEST(CudaShape, ConcatAlongEachAxis) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {float32, float64}) {
    for (int64_t axis : {0, 1, 2, -1}) {
      Shape a{3, 4, 5}, b{3, 4, 5}, c{3, 4, 5};
      const int64_t ax = axis < 0 ? axis + 3 : axis;
      a[ax] = 2;
      b[ax] = 1;
      c[ax] = 6;
      expect_cuda_matches_cpu(
          "concat axis " + std::to_string(axis),
          [axis](const std::vector<Tensor>& in) { return std::vector{concat(in, axis)}; },
          {normal_leaf(a, 1, dt), normal_leaf(b, 2, dt), normal_leaf(c, 3, dt)}, tol(dt));
    }
  }
  // int64 and bool data, an empty input.
  Tensor i = Tensor::from_vector(std::vector<int64_t>{1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor bl = Tensor::from_vector({1, 0, 1, 1}, {2, 2}, bool_);
  expect_cuda_matches_cpu(
      "concat int64 / bool",
      [](const std::vector<Tensor>& in) {
        return std::vector{concat({in[0], in[0]}, 1), concat({in[1], in[1]}, 0),
                           concat({in[0], Tensor::zeros({2, 0}, int64, in[0].device())}, 1)};
      },
      {i, bl}, 0);
}

TEST(CudaShape, PadValuesAndGradient) {
  DUET_REQUIRE_CUDA();
  struct Case {
    Shape shape;
    std::vector<int64_t> pads;
    double value;
  };
  for (DType dt : {float32, float64}) {
    for (const Case& c : std::vector<Case>{{{2, 3, 4, 5}, {1, 2}, 0.0},
                                           {{2, 3, 4, 5}, {1, 1, 2, 0}, -1.5},
                                           {{4, 5}, {0, 3, 2, 1}, 7.0},
                                           {{6}, {2, 2}, 0.25},
                                           {{2, 3}, {}, 1.0}}) {
      expect_cuda_matches_cpu(
          "pad " + shape_str(c.shape) + " " + shape_str(c.pads),
          [&](const std::vector<Tensor>& in) { return std::vector{pad(in[0], c.pads, c.value)}; },
          {normal_leaf(c.shape, 4, dt)}, tol(dt));
    }
  }
  Tensor i = Tensor::from_vector(std::vector<int64_t>{1, 2, 3, 4, 5, 6}, {2, 3});
  expect_cuda_matches_cpu(
      "pad int64",
      [](const std::vector<Tensor>& in) {
        return std::vector{pad(in[0], {1, 2, 1, 0}, -3.0)};
      },
      {i}, 0);
}

TEST(CudaShape, SlicesWithStepsAndBackward) {
  DUET_REQUIRE_CUDA();
  struct Case {
    int64_t axis, start, end, step;
  };
  for (DType dt : {float32, float64}) {
    Tensor x = normal_leaf({6, 7, 8}, 5, dt);
    for (const Case& c : std::vector<Case>{{0, 0, 6, 2},
                                           {1, 1, 7, 3},
                                           {2, -5, -1, 1},
                                           {2, 0, 100, 4},
                                           {-1, 3, 3, 1},
                                           {1, 5, 2, 1}}) {
      expect_cuda_matches_cpu(
          "slice axis " + std::to_string(c.axis) + " [" + std::to_string(c.start) + ":" +
              std::to_string(c.end) + ":" + std::to_string(c.step) + "]",
          [c](const std::vector<Tensor>& in) {
            return std::vector{slice(in[0], c.axis, c.start, c.end, c.step)};
          },
          {x}, tol(dt));
    }
    // Two slices of one tensor, then their gradients add up.
    expect_cuda_matches_cpu(
        "two overlapping slices",
        [](const std::vector<Tensor>& in) {
          return std::vector{slice(in[0], 1, 0, 5, 2), slice(in[0], 1, 1, 7)};
        },
        {x}, tol(dt));
  }
}

TEST(CudaShape, CastsAndClones) {
  DUET_REQUIRE_CUDA();
  Tensor x = normal_leaf({5, 6, 7}, 6, float32);
  expect_cuda_matches_cpu(
      "cast float32 -> float64 -> float32",
      [](const std::vector<Tensor>& in) {
        Tensor d = cast(in[0], float64);
        return std::vector{d, cast(mul(d, 3.0), float32)};
      },
      {x}, 1e-6);
  Tensor w = Tensor::from_vector({-2.7, -0.5, 0.0, 0.5, 1.5, 2.9, 1e6, -3.0}, {2, 4}, float64);
  expect_cuda_matches_cpu(
      "cast to int64 and bool and back",
      [](const std::vector<Tensor>& in) {
        Tensor i = cast(in[0], int64);
        Tensor b = cast(in[0], bool_);
        return std::vector{i, b, cast(i, float32), cast(b, float64), cast(i, bool_)};
      },
      {w}, 0);
  // Clones and casts of non-contiguous views (transposed, stepped, broadcast).
  for (DType dt : {float32, float64}) {
    Tensor y = normal_leaf({4, 5, 6}, 7, dt);
    expect_cuda_matches_cpu(
        "clone of views",
        [dt](const std::vector<Tensor>& in) {
          Tensor t = transpose(in[0], 0, 2);
          return std::vector{clone(t), contiguous(slice(t, 1, 0, 5, 2)),
                             clone(expand(slice(in[0], 0, 1, 2), {3, 5, 6})),
                             cast(permute(in[0], {1, 2, 0}), dt == float32 ? float64 : float32)};
        },
        {y}, tol(dt));
  }
}

TEST(CudaShape, SumTo) {
  DUET_REQUIRE_CUDA();
  struct Case {
    Shape from, to;
  };
  for (DType dt : {float32, float64}) {
    for (const Case& c : std::vector<Case>{{{2, 3, 4}, {3, 1}},
                                           {{2, 3, 4}, {2, 1, 4}},
                                           {{8, 16, 10, 10}, {16, 1, 1}},
                                           {{1000, 37}, {37}},
                                           {{1, 5}, {5}}}) {
      expect_cuda_matches_cpu(
          "sum_to " + shape_str(c.from) + " -> " + shape_str(c.to),
          [&](const std::vector<Tensor>& in) { return std::vector{sum_to(in[0], c.to)}; },
          {normal_leaf(c.from, 8, dt)}, tol(dt));
    }
  }
}

// ---- optimizers ---------------------------------------------------------------------------

namespace {

Tensor randn_seeded(const Shape& shape, uint64_t seed, DType dt) {
  Generator g(seed);
  return Tensor::randn(shape, g, dt);
}

std::vector<Tensor> make_params(DType dt, uint64_t seed) {
  return {randn_seeded({64, 32}, seed, dt), randn_seeded({32}, seed + 1, dt),
          randn_seeded({10, 64}, seed + 2, dt), randn_seeded({100003}, seed + 3, dt)};
}

// Runs `steps` optimizer steps on CPU and CUDA copies of the same parameters with the same
// gradients (one parameter gets none in step 1) and compares parameters and state.
template <class MakeOpt>
void compare_optimizer(const std::string& what, DType dt, MakeOpt make_opt, double rtol) {
  SCOPED_TRACE(what);
  std::vector<Tensor> base = make_params(dt, 21);
  std::vector<Tensor> pc = copies(base, cpu), pg = copies(base, cuda);
  for (auto& p : pc) p.requires_grad_();
  for (auto& p : pg) p.requires_grad_();
  auto oc = make_opt(pc);
  auto og = make_opt(pg);
  Generator gen(99);
  for (int step = 0; step < 5; ++step) {
    for (size_t i = 0; i < base.size(); ++i) {
      if (step == 1 && i == 2) {  // no gradient: skipped (and its step count stays behind)
        pc[i].zero_grad();
        pg[i].zero_grad();
        continue;
      }
      Tensor g = Tensor::randn(base[i].shape(), gen, dt);
      pc[i].set_grad(g);
      pg[i].set_grad(g.to(cuda));
    }
    oc->step();
    og->step();
  }
  for (size_t i = 0; i < base.size(); ++i) {
    SCOPED_TRACE("parameter " + std::to_string(i));
    EXPECT_LE(max_rel_error(pg[i], pc[i]), rtol);
    for (const auto& [key, state] : oc->state(i).tensors) {
      SCOPED_TRACE(key);
      const Tensor& t = state;
      Tensor tg = og->state(i).get(key);
      ASSERT_TRUE(tg.defined());
      EXPECT_EQ(tg.device(), cuda);
      if (is_floating(t.dtype())) {
        EXPECT_LE(max_rel_error(tg, t), rtol);
      } else {
        EXPECT_EQ(tg.to(cpu).to_vector<int64_t>(), t.to_vector<int64_t>());
      }
    }
  }
}

}  // namespace

TEST(CudaOptim, SgdMatchesCpu) {
  DUET_REQUIRE_CUDA();
  struct Case {
    double momentum, dampening, weight_decay;
    bool nesterov;
  };
  for (DType dt : {float32, float64}) {
    for (const Case& c : std::vector<Case>{{0.0, 0.0, 0.0, false},
                                           {0.9, 0.0, 0.0, false},
                                           {0.9, 0.1, 5e-4, false},
                                           {0.9, 0.0, 1e-2, true},
                                           {0.0, 0.0, 1e-2, false}}) {
      compare_optimizer(
          "SGD momentum " + std::to_string(c.momentum) + " nesterov " + std::to_string(c.nesterov) +
              " wd " + std::to_string(c.weight_decay),
          dt,
          [&](std::vector<Tensor> p) {
            return std::make_unique<optim::SGD>(p, 0.05, c.momentum, c.dampening, c.weight_decay,
                                                c.nesterov);
          },
          tol(dt));
    }
  }
}

TEST(CudaOptim, AdamMatchesCpu) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {float32, float64}) {
    for (double wd : {0.0, 1e-2}) {
      compare_optimizer(
          "Adam wd " + std::to_string(wd), dt,
          [&](std::vector<Tensor> p) {
            return std::make_unique<optim::Adam>(p, 1e-2, std::make_pair(0.9, 0.999), 1e-8, wd);
          },
          tol(dt));
      compare_optimizer(
          "AdamW wd " + std::to_string(wd), dt,
          [&](std::vector<Tensor> p) {
            return std::make_unique<optim::AdamW>(p, 1e-2, std::make_pair(0.8, 0.99), 1e-6, wd);
          },
          tol(dt));
    }
  }
}

// The multi-tensor ops the optimizers use on CUDA give the per-parameter ops' exact bits.
TEST(CudaOptim, MultiTensorBitIdenticalToPerParameter) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {float32, float64}) {
    std::vector<Tensor> base = make_params(dt, 31);
    for (int extra = 0; extra < 12; ++extra)  // more than one call's worth of parameters
      base.push_back(randn_seeded({extra * 37 + 1}, extra, dt));
    const size_t n = base.size();
    Generator gen(5);
    std::vector<Tensor> grads;
    for (const Tensor& p : base) grads.push_back(Tensor::randn(p.shape(), gen, dt).to(cuda));
    Tensor lr = Tensor::full({}, 0.01, float64, cuda);
    auto zeros_like = [&](const std::vector<Tensor>& ps) {
      std::vector<Tensor> r;
      for (const Tensor& p : ps) r.push_back(Tensor::zeros(p.shape(), dt, cuda));
      return r;
    };
    auto step_counts = [&] {
      std::vector<Tensor> r;
      for (size_t i = 0; i < n; ++i) r.push_back(Tensor::zeros({}, int64, cuda));
      return r;
    };
    // Adam (L2 weight decay) and AdamW.
    for (bool decoupled : {false, true}) {
      const optim::AdamUpdate u{.weight_decay = 1e-2, .decoupled = decoupled};
      std::vector<Tensor> p1 = copies(base, cuda), p2 = copies(base, cuda);
      std::vector<Tensor> m1 = zeros_like(base), m2 = zeros_like(base);
      std::vector<Tensor> v1 = zeros_like(base), v2 = zeros_like(base);
      std::vector<Tensor> s1 = step_counts(), s2 = step_counts();
      for (int step = 0; step < 3; ++step) {
        for (size_t i = 0; i < n; ++i)
          optim::adam_step_(p1[i], grads[i], m1[i], v1[i], lr, s1[i], u);
        optim::adam_step_multi_(p2, grads, m2, v2, s2, lr, u);
      }
      for (size_t i = 0; i < n; ++i) {
        expect_identical(p2[i], p1[i], "adam param " + std::to_string(i));
        expect_identical(m2[i], m1[i], "adam exp_avg " + std::to_string(i));
        expect_identical(v2[i], v1[i], "adam exp_avg_sq " + std::to_string(i));
        EXPECT_EQ(s2[i].item<int64_t>(), 3);
      }
    }
    // SGD with and without momentum buffers.
    for (double momentum : {0.0, 0.9}) {
      const optim::SgdUpdate u{
          .momentum = momentum, .weight_decay = 1e-3, .nesterov = momentum > 0};
      std::vector<Tensor> p1 = copies(base, cuda), p2 = copies(base, cuda);
      std::vector<Tensor> b1 = zeros_like(base), b2 = zeros_like(base);
      std::vector<Tensor> s1 = step_counts(), s2 = step_counts();
      for (int step = 0; step < 3; ++step) {
        for (size_t i = 0; i < n; ++i)
          optim::sgd_step_(p1[i], grads[i], momentum > 0 ? b1[i] : Tensor(), lr, s1[i], u);
        optim::sgd_step_multi_(p2, grads, momentum > 0 ? b2 : std::vector<Tensor>{}, s2, lr, u);
      }
      for (size_t i = 0; i < n; ++i) {
        expect_identical(p2[i], p1[i], "sgd param " + std::to_string(i));
        expect_identical(b2[i], b1[i], "sgd buffer " + std::to_string(i));
        EXPECT_EQ(s2[i].item<int64_t>(), 3);
      }
    }
  }
}

TEST(CudaOptim, PerParameterOpsMatchCpu) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {float32, float64}) {
    Generator gen(7);
    Tensor p = Tensor::randn({1000}, gen, dt);
    std::vector<Tensor> c = {p.clone(), Tensor::zeros({1000}, dt), Tensor::zeros({1000}, dt),
                             Tensor::full({}, 3e-3, float64), Tensor::zeros({}, int64)};
    std::vector<Tensor> g = copies(c, cuda);
    const optim::AdamUpdate u{.beta1 = 0.5, .beta2 = 0.9, .eps = 1e-3, .weight_decay = 0.1};
    for (int step = 0; step < 6; ++step) {
      Tensor grad = Tensor::randn({1000}, gen, dt);
      optim::adam_step_(c[0], grad, c[1], c[2], c[3], c[4], u);
      optim::adam_step_(g[0], grad.to(cuda), g[1], g[2], g[3], g[4], u);
    }
    for (int i = 0; i < 3; ++i) EXPECT_LE(max_rel_error(g[i], c[i]), tol(dt));
    EXPECT_EQ(g[4].item<int64_t>(), 6);
  }
}

TEST(CudaOptim, LinearGradAdamStepMatchesCpu) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {float32, float64}) {
    for (auto [rows, out, in] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
             {1, 10, 20}, {32, 64, 128}, {256, 10, 784}}) {
      Generator gen(11);
      std::vector<Tensor> c = {Tensor::randn({rows, out}, gen, dt),
                               Tensor::randn({rows, in}, gen, dt),
                               Tensor::randn({out, in}, gen, dt),
                               Tensor::zeros({out, in}, dt),
                               Tensor::zeros({out, in}, dt),
                               Tensor::full({}, 1e-2, float64),
                               Tensor::zeros({}, int64)};
      std::vector<Tensor> g = copies(c, cuda);
      Attrs attrs;
      attrs.set("beta1", 0.9)
          .set("beta2", 0.999)
          .set("eps", 1e-8)
          .set("weight_decay", 0.0)
          .set("decoupled", false);
      for (int step = 0; step < 3; ++step) {
        NoGradGuard no_grad;
        call_op(linear_grad_adam_step_def(), c, attrs);
        call_op(linear_grad_adam_step_def(), g, attrs);
      }
      SCOPED_TRACE("rows " + std::to_string(rows) + " out " + std::to_string(out));
      for (int i = 2; i < 5; ++i)
        EXPECT_LE(max_rel_error(g[i], c[i]), dt == float64 ? 1e-10 : 1e-4);
      EXPECT_EQ(g[6].item<int64_t>(), 3);
    }
  }
}

TEST(CudaOptim, Increment) {
  DUET_REQUIRE_CUDA();
  Tensor counter = Tensor::zeros({}, int64, cuda);
  increment_(counter);
  increment_(counter, 4);
  EXPECT_EQ(counter.item<int64_t>(), 5);
  Tensor f = Tensor::from_vector({1.0, 2.0, 3.0}, {3}, float64).to(cuda);
  increment_(f, 0.5);
  EXPECT_EQ(f.to_vector<double>(), (std::vector<double>{1.5, 2.5, 3.5}));
}

// ---- dropout --------------------------------------------------------------------------------

TEST(CudaDropout, MaskBitIdenticalToCpu) {
  DUET_REQUIRE_CUDA();
  for (int64_t n : {1, 2, 255, 257, 16384, 16385, 100001, (1 << 20) + 3}) {
    for (double p : {0.1, 0.5, 0.9, 1.0}) {
      for (DType dt : {float32, float64}) {
        SCOPED_TRACE("n " + std::to_string(n) + " p " + std::to_string(p));
        Generator gx(n);
        Tensor x = Tensor::randn({n}, gx, dt);
        Generator g1(1234 + n), g2(1234 + n);
        // With x = 1 the output is the mask itself (0 or 1 / (1 - p)).
        Tensor ones = Tensor::ones({n}, dt);
        expect_identical(dropout(ones.to(cuda), p, true, g2), dropout(ones, p, true, g1), "mask");
        expect_identical(dropout(x.to(cuda), p, true, g2), dropout(x, p, true, g1), "output");
      }
    }
  }
}

TEST(CudaDropout, Gradient) {
  DUET_REQUIRE_CUDA();
  Tensor x = normal_leaf({37, 1000}, 12, float32);
  expect_cuda_matches_cpu(
      "dropout",
      [](const std::vector<Tensor>& in) {
        Generator g(77);  // the same seed on both devices
        return std::vector{dropout(in[0], 0.3, true, g)};
      },
      {x}, 0);
}
