// Derived constants: an eval graph computes values that depend on captures only (the
// folded batch-norm weights) once, and again only after one of those captures was written.
#include <memory>

#include "duet/nn.h"
#include "pass_test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

struct Net {
  std::shared_ptr<nn::Conv2d> conv;
  std::shared_ptr<nn::BatchNorm2d> bn;
  Net() {
    Generator gen(5);
    conv = std::make_shared<nn::Conv2d>(3, 4, 3, Conv2dOptions{.padding = {1, 1}}, false, gen);
    bn = std::make_shared<nn::BatchNorm2d>(4);
    NoGradGuard ng;
    bn->running_mean.copy_(Tensor::uniform({4}, -0.5, 0.5, gen));
    bn->running_var.copy_(Tensor::uniform({4}, 0.5, 2.0, gen));
    conv->eval();
    bn->eval();
  }
  Tensor operator()(const Tensor& x) { return relu((*bn)((*conv)(x))); }  // (2, 4, 5, 5)
};

}  // namespace

TEST(DerivedConstants, FoldedWeightsAreKeptAndRefreshedWhenACaptureChanges) {
  Net net;
  Generator gen(1);
  Tensor x = Tensor::randn({2, 3, 5, 5}, gen);
  Graph g;
  Tensor y = net(g.input("x", {2, 3, 5, 5}));
  // Without the blocked layout's packed weight (also derived; tests/nchwc/).
  Executable exe = compile(g, {y}, {.disabled_passes = {"nchwc_layout"}});
  // The folded weight (4, 3, 3, 3) and bias (4) live outside the arena, with the few
  // (4)-vectors they are computed from.
  const int64_t folded = (4 * 3 * 3 * 3 + 4) * 4;
  EXPECT_GE(exe.memory_report().derived, folded);
  EXPECT_LE(exe.memory_report().derived, folded + 8 * 4 * 4);
  NoGradGuard ng;
  expect_close(exe.run({{"x", x}})[0], net(x), 1e-5, 1e-6);
  expect_close(exe.run({{"x", x}})[0], net(x), 1e-5, 1e-6);  // kept values, same result

  // Writing a running statistic or a weight (copy_, load_state_dict, an optimizer step)
  // makes the next run recompute them.
  net.bn->running_var.copy_(Tensor::uniform({4}, 2.0, 4.0, gen));
  expect_close(exe.run({{"x", x}})[0], net(x), 1e-5, 1e-6);
  net.conv->weight.copy_(net.conv->weight * 0.5);
  expect_close(exe.run({{"x", x}})[0], net(x), 1e-5, 1e-6);
}

TEST(DerivedConstants, DisabledByHoistOrTrainingGraphs) {
  Net net;
  Graph g;
  Tensor y = net(g.input("x", {2, 3, 5, 5}));
  Executable exe = compile(g, {y}, {.disabled_passes = {"hoist"}});
  EXPECT_EQ(exe.memory_report().derived, 0);
  Generator gen(2);
  Tensor x = Tensor::randn({2, 3, 5, 5}, gen);
  NoGradGuard ng;
  expect_close(exe.run({{"x", x}})[0], net(x), 1e-5, 1e-6);
}

// A derived value that reads a capture through a view (reshape, permute) is refreshed when
// that capture changes, like one that reads it directly.
TEST(DerivedConstants, CapturesReadThroughViewsAreWatched) {
  Generator gen(6);
  Tensor w = Tensor::randn({4, 3}, gen);  // captured; read as w^T (a strided view)
  Tensor s = Tensor::randn({4}, gen);     // captured; read as (1, 4) (a reshape)
  Graph g;
  Tensor x = g.input("x", {2, 3});
  // (2, 3) @ [(3, 4) * (1, 4)] -> (2, 4); the scaled matrix is a derived constant
  Tensor y = matmul(x, mul(permute(w, {1, 0}), reshape(s, {1, 4})));
  Executable exe = compile(g, {y});
  EXPECT_GT(exe.memory_report().derived, 0);
  Tensor xv = Tensor::randn({2, 3}, gen);
  auto eager = [&] { return matmul(xv, mul(permute(w, {1, 0}), reshape(s, {1, 4}))); };
  expect_close(exe.run({{"x", xv}})[0], eager(), 1e-6, 1e-6);
  w.copy_(Tensor::randn({4, 3}, gen));
  expect_close(exe.run({{"x", xv}})[0], eager(), 1e-6, 1e-6);
  s.copy_(Tensor::randn({4}, gen));
  expect_close(exe.run({{"x", xv}})[0], eager(), 1e-6, 1e-6);
}
