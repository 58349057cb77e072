// The fused ops called eagerly: forward equals the unfused ops, gradients against finite
// differences, errors.
#include "pass_test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

const char* kActs[] = {"none", "relu", "relu6", "sigmoid", "silu", "hardswish"};

Tensor activate(const std::string& act, const Tensor& t) {
  if (act == "relu") return relu(t);
  if (act == "relu6") return relu6(t);
  if (act == "sigmoid") return sigmoid(t);
  if (act == "silu") return silu(t);
  if (act == "hardswish") return hardswish(t);
  return t;
}

}  // namespace

TEST(FusedOps, Conv2dFusedEqualsUnfused) {
  Generator gen(1);
  Tensor x = Tensor::randn({2, 4, 13, 11}, gen);
  Tensor w = Tensor::randn({6, 2, 3, 3}, gen);
  Tensor b = Tensor::randn({6}, gen);
  const Conv2dOptions opts{.stride = {1, 2}, .padding = {1, 0}, .groups = 2};
  Tensor r = Tensor::randn(conv2d(x, w, b, opts).shape(), gen);
  for (const char* act : kActs) {
    SCOPED_TRACE(act);
    for (int mask = 0; mask < 4; ++mask) {
      const Tensor bias = mask & 1 ? b : Tensor();
      const Tensor res = mask & 2 ? r : Tensor();
      Tensor ref = conv2d(x, w, bias, opts);
      if (res.defined()) ref = add(ref, res);
      ref = activate(act, ref);
      expect_same(conv2d_fused(x, w, bias, res, opts, act), ref);
    }
  }
}

TEST(FusedOps, LinearFusedAndAddReluEqualUnfused) {
  Generator gen(2);
  Tensor x = Tensor::randn({5, 3, 7}, gen);
  Tensor w = Tensor::randn({9, 7}, gen);
  Tensor b = Tensor::randn({9}, gen);
  for (const char* act : kActs) {
    SCOPED_TRACE(act);
    expect_same(linear_fused(x, w, b, act), activate(act, linear(x, w, b)));
    expect_same(linear_fused(x, w, Tensor(), act), activate(act, linear(x, w)));
  }
  Tensor a = Tensor::randn({4, 1000}, gen), c = Tensor::randn({4, 1000}, gen);
  expect_same(add_relu(a, c), relu(add(a, c)));
}

TEST(FusedOps, Conv2dFusedGradients) {
  for (const char* act : kActs) {
    SCOPED_TRACE(act);
    Tensor x = rand64({2, 2, 5, 4}, 1), w = rand64({3, 2, 3, 3}, 2), b = rand64({3}, 3);
    Tensor r = rand64({2, 3, 3, 4}, 4);
    gradcheck(
        [&](const std::vector<Tensor>& in) {
          return conv2d_fused(in[0], in[1], in[2], in[3], {.padding = {0, 1}}, act);
        },
        {x, w, b, r});
    gradcheck(
        [&](const std::vector<Tensor>& in) {
          return conv2d_fused(in[0], in[1], Tensor(), Tensor(), {.stride = {2, 1}}, act);
        },
        {x, w});
  }
}

TEST(FusedOps, LinearFusedAndAddReluGradients) {
  for (const char* act : kActs) {
    SCOPED_TRACE(act);
    Tensor x = rand64({4, 3}, 5), w = rand64({2, 3}, 6), b = rand64({2}, 7);
    gradcheck([&](const std::vector<Tensor>& in) { return linear_fused(in[0], in[1], in[2], act); },
              {x, w, b});
  }
  Tensor a = rand64({3, 4}, 8), c = rand64({3, 4}, 9);
  gradcheck([](const std::vector<Tensor>& in) { return add_relu(in[0], in[1]); }, {a, c});
}

// An activation with attrs (softplus: beta, threshold) passes them to the fused op: forward
// equals the unfused ops bit for bit, and the gradient (softplus_backward with the same attrs on
// the recomputed pre-activation) matches finite differences.
TEST(FusedOps, SoftplusWithAttrs) {
  Generator gen(3);
  Tensor x = Tensor::randn({2, 4, 9, 8}, gen), w = Tensor::randn({5, 4, 3, 3}, gen);
  Tensor b = Tensor::randn({5}, gen);
  Tensor r = Tensor::randn({2, 5, 9, 8}, gen);
  Attrs a;
  a.set("beta", 0.5).set("threshold", 1.0);  // both branches
  expect_same(conv2d_fused(x, w, b, r, {.padding = {1, 1}}, "softplus", a),
              softplus(add(conv2d(x, w, b, {.padding = {1, 1}}), r), 0.5, 1.0));
  Tensor h = Tensor::randn({6, 4}, gen), lw = Tensor::randn({3, 4}, gen);
  expect_same(linear_fused(h, lw, Tensor(), "softplus", a), softplus(linear(h, lw), 0.5, 1.0));
  // Defaults (beta 1, threshold 20) when the attrs are not given.
  expect_same(linear_fused(h, lw, Tensor(), "softplus"), softplus(linear(h, lw)));

  Attrs g;
  g.set("beta", 1.5).set("threshold", 20.0);
  Tensor x64 = rand64({2, 2, 5, 4}, 1), w64 = rand64({3, 2, 3, 3}, 2), b64 = rand64({3}, 3);
  Tensor r64 = rand64({2, 3, 3, 4}, 4);
  gradcheck(
      [&](const std::vector<Tensor>& in) {
        return conv2d_fused(in[0], in[1], in[2], in[3], {.padding = {0, 1}}, "softplus", g);
      },
      {x64, w64, b64, r64});
  Tensor h64 = rand64({4, 3}, 5), lw64 = rand64({2, 3}, 6), lb64 = rand64({2}, 7);
  gradcheck([&](const std::vector<Tensor>& in) {
    return linear_fused(in[0], in[1], in[2], "softplus", g);
  }, {h64, lw64, lb64});
}

TEST(FusedOps, Errors) {
  Tensor x = Tensor::zeros({1, 2, 5, 5}), w = Tensor::zeros({3, 2, 3, 3});
  EXPECT_DUET_ERROR(conv2d_fused(x, w, Tensor(), Tensor::zeros({1, 3, 5, 5}), {}, "relu"),
                    "conv2d_fused", "residual", "(1, 3, 5, 5)", "(1, 3, 3, 3)");
  EXPECT_DUET_ERROR(conv2d_fused(x, w, Tensor(), Tensor(), {}, "gelu"), "conv2d_fused",
                    "activation 'gelu'", "relu");
  EXPECT_DUET_ERROR(conv2d_fused(x, Tensor::zeros({3, 4, 3, 3}), Tensor(), Tensor(), {}, "relu"),
                    "conv2d_fused", "weight", "(3, 4, 3, 3)");
  EXPECT_DUET_ERROR(conv2d_fused(x, w, Tensor::zeros({4}), Tensor(), {}, "relu"), "conv2d_fused",
                    "bias", "(4,)");
  EXPECT_DUET_ERROR(linear_fused(Tensor::zeros({2, 3}), Tensor::zeros({4, 5}), Tensor(), "relu"),
                    "linear_fused", "(2, 3)", "(4, 5)");
  EXPECT_DUET_ERROR(add_relu(Tensor::zeros({2, 3}), Tensor::zeros({3})), "add_relu", "(2, 3)",
                    "(3,)", "broadcast");
  EXPECT_DUET_ERROR(add_relu(Tensor::zeros({2}), Tensor::zeros({2}, float64)), "add_relu",
                    "float64");
}
