// nn::StochasticDepth (torchvision.ops.StochasticDepth): masks, modes, graph mode, errors.
#include "duet/graph.h"
#include "duet/nn.h"
#include "duet/ops.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

TEST(StochasticDepth, EvalIsIdentity) {
  nn::StochasticDepth sd(0.5);
  sd.eval();
  Generator gen(0);
  Tensor x = Tensor::randn({4, 3, 2, 2}, gen);
  EXPECT_TRUE(sd(x).is_same(x));
  nn::StochasticDepth zero(0.0);  // p == 0: identity in training too
  EXPECT_TRUE(zero(x).is_same(x));
}

TEST(StochasticDepth, RowModeDropsWholeSamples) {
  Generator gen(1);
  nn::StochasticDepth sd(0.5, "row", gen);
  Tensor y = sd(Tensor::ones({1000, 1, 2, 2}));
  ASSERT_EQ(y.shape(), (Shape{1000, 1, 2, 2}));
  std::vector<float> v = y.to_vector<float>();
  int zeros = 0;
  for (int n = 0; n < 1000; ++n) {
    const float first = v[n * 4];
    ASSERT_TRUE(first == 0.0f || first == 2.0f) << "sample " << n << ": " << first;
    for (int k = 1; k < 4; ++k) ASSERT_EQ(v[n * 4 + k], first) << "sample " << n;
    zeros += first == 0.0f;
  }
  EXPECT_NEAR(zeros / 1000.0, 0.5, 0.1);
}

TEST(StochasticDepth, BatchModeAndProbabilityOne) {
  Generator gen(2);
  nn::StochasticDepth batch(0.5, "batch", gen);
  for (int trial = 0; trial < 8; ++trial) {
    std::vector<float> v = batch(Tensor::ones({6, 2})).to_vector<float>();
    for (float e : v) EXPECT_EQ(e, v[0]);
    EXPECT_TRUE(v[0] == 0.0f || v[0] == 2.0f);
  }
  nn::StochasticDepth all(1.0, "row", gen);
  for (float e : all(Tensor::ones({5, 3})).to_vector<float>()) EXPECT_EQ(e, 0.0f);
}

TEST(StochasticDepth, GradientIsTheMask) {
  Generator gen(3);
  nn::StochasticDepth sd(0.5, "row", gen);
  Tensor x = Tensor::ones({64, 3}).requires_grad_();
  Tensor y = sd(x);
  sum(y).backward();
  expect_close(x.grad(), y.detach(), 0.0, 0.0);  // x is ones: y == mask
}

TEST(StochasticDepth, GraphModeMatchesEagerSeeds) {
  // Graph runs draw each seed from the default generator, as eager calls do.
  nn::StochasticDepth sd(0.5);
  Tensor x = Tensor::ones({256, 2, 2, 2});
  manual_seed(42);
  Tensor eager = sd(x);
  Graph g({.training = true});
  Tensor xs = g.input("x", {256, 2, 2, 2});
  Tensor ys = sd(xs);
  Executable exe = compile(g, {ys}, {.training = true});
  manual_seed(42);
  Tensor graph_out = exe.run({{"x", x}})[0];
  expect_close(graph_out, eager, 0.0, 0.0);
  EXPECT_NE(sd.repr().find("StochasticDepth(p=0.5, mode=row)"), std::string::npos) << sd.repr();
}

TEST(StochasticDepth, Errors) {
  EXPECT_DUET_ERROR(nn::StochasticDepth(1.5), "StochasticDepth", "p = 1.5");
  EXPECT_DUET_ERROR(nn::StochasticDepth(-0.25), "StochasticDepth", "p = -0.25");
  EXPECT_DUET_ERROR(nn::StochasticDepth(0.1, "column"), "StochasticDepth", "'column'",
                    "'row' or 'batch'");
}
