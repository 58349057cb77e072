// Constant folding.
#include "pass_test_util.h"

using namespace duet;
using namespace duet::test;
using detail::constant_folding;

TEST(ConstantFolding, FoldsChainsOfTracedConstants) {
  Graph g;
  Tensor x = g.input("x", {3});
  // Tensors made while tracing and dropped by the caller: only the graph holds them.
  Tensor c = exp(mul(Tensor::from_vector({0, 1, 2}, {3}), 0.5));  // mul, exp: folded
  Tensor y = add(x, sqrt(c));                                     // sqrt folded, add not
  EXPECT_EQ(count_op(*g.data(), "mul_scalar"), 1);
  EXPECT_EQ(count_op(*g.data(), "exp"), 1);
  EXPECT_EQ(count_op(*g.data(), "sqrt"), 1);
  run_pass(g, {y}, constant_folding);
  EXPECT_EQ(count_op(*g.data(), "mul_scalar"), 0);
  EXPECT_EQ(count_op(*g.data(), "exp"), 0);
  EXPECT_EQ(count_op(*g.data(), "sqrt"), 0);
  EXPECT_EQ(count_op(*g.data(), "add"), 1);
  expect_topological(*g.data());
}

TEST(ConstantFolding, CompiledResultsEqualEager) {
  auto model = [](const Tensor& x) {
    Tensor scale = exp(mul(Tensor::from_vector({0, 1, 2}, {3}), 0.5));
    return mul(x, reshape(scale, {1, 3})) + sum(scale);
  };
  Tensor xv = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor eager = model(xv);
  Graph g;
  Tensor y = model(g.input("x", {2, 3}));
  Executable exe = compile(g, {y});
  EXPECT_EQ(count_op(*exe.impl()->graph, "exp"), 0);
  EXPECT_EQ(count_op(*exe.impl()->graph, "sum"), 0);
  EXPECT_EQ(count_op(*exe.impl()->graph, "reshape"), 0);
  expect_same(exe.run({{"x", xv}})[0], eager);
}

TEST(ConstantFolding, ParametersBuffersAndHeldTensorsAreNotConstants) {
  Tensor held = Tensor::from_vector({1, 2, 3}, {3});  // the caller keeps it
  Tensor param = Tensor::from_vector({1, 2, 3}, {3}).requires_grad_();
  Graph g;
  Tensor x = g.input("x", {3});
  Tensor a = exp(held);
  Tensor b = exp(param);
  Tensor y = add(add(x, a), b);
  run_pass(g, {y}, constant_folding);
  EXPECT_EQ(count_op(*g.data(), "exp"), 2);

  // A held tensor may change after compile: the graph must see the new values.
  Graph g2;
  Tensor x2 = g2.input("x", {3});
  Tensor y2 = add(x2, exp(held));
  Executable exe = compile(g2, {y2});
  held.fill_(0.0);
  expect_values(exe.run({{"x", Tensor::zeros({3})}})[0], {1, 1, 1});
}

TEST(ConstantFolding, ValuesWrittenInPlaceAreNotConstants) {
  for (bool capture : {true, false}) {
    SCOPED_TRACE(capture ? "a captured buffer" : "a computed value");
    Graph g;
    Tensor x = g.input("x", {3});
    Tensor y;
    {
      // float32 data is captured as is; float64 data gets a (foldable) cast op while tracing.
      Tensor buf = capture ? Tensor::from_vector(std::vector<float>{1, 2, 3}, {3})
                           : Tensor::from_vector({1, 2, 3}, {3});
      EXPECT_EQ(buf.is_symbolic(), !capture);
      Tensor before = mul(buf, 2.0);
      NoGradGuard ng;
      running_stat_update_(buf, x, 0.5);
      y = add(before, mul(buf, 2.0));
    }  // buf dropped: only the graph holds it
    run_pass(g, {y}, constant_folding);
    EXPECT_EQ(count_op(*g.data(), "mul_scalar"), 2);
    EXPECT_EQ(count_op(*g.data(), "cast"), capture ? 0 : 1);
  }
  // Compiled: each run starts again from the initial values (buf = 1 + 0.5 (x - 1) per run).
  Graph g;
  Tensor x = g.input("x", {3});
  Tensor buf = Tensor::from_vector({1, 2, 3}, {3});  // a cast node, written below
  Tensor before = mul(buf, 2.0);
  {
    NoGradGuard ng;
    running_stat_update_(buf, x, 0.5);
  }
  Tensor y = add(before, buf);
  buf = Tensor();
  Executable exe = compile(g, {y});
  for (int run = 0; run < 2; ++run)
    expect_values(exe.run({{"x", Tensor::from_vector({3, 3, 3}, {3})}})[0],
                  {2 + 2, 4 + 2.5, 6 + 3});
}

TEST(ConstantFolding, SkipsRandomOps) {
  Graph g({.training = true});
  Tensor x = g.input("x", {8});
  Tensor y = add(x, dropout(Tensor::ones({8}), 0.5, true));
  run_pass(g, {y}, constant_folding);
  EXPECT_EQ(count_op(*g.data(), "dropout"), 1);
}

TEST(ConstantFolding, MultiOutputOpsGetOneCapturePerOutput) {
  auto model = [](const Tensor& x) {
    std::vector<Tensor> r = batch_norm_train(Tensor::from_vector({1, 2, 3, 5, 8, 13}, {2, 3}),
                                             Tensor::ones({3}), Tensor::zeros({3}), 1e-5);
    return add(add(x, r[1]), mul(r[3], r[2]));  // mean, var * invstd
  };
  Tensor xv = Tensor::from_vector({1, 2, 3}, {3});
  Tensor eager = model(xv);
  Graph g;
  Tensor y = model(g.input("x", {3}));
  const size_t captures = count_kind(*g.data(), detail::NodeKind::capture);
  const int ops = count_kind(*g.data(), detail::NodeKind::op);  // cast, bn, mul, add, add
  run_pass(g, {y}, constant_folding);
  expect_topological(*g.data());
  EXPECT_EQ(count_op(*g.data(), "batch_norm_train"), 0);
  EXPECT_EQ(count_op(*g.data(), "mul"), 0);
  // Every op but the two adds became a capture; outputs 1-3 of batch_norm_train got
  // captures of their own.
  EXPECT_EQ(count_kind(*g.data(), detail::NodeKind::op), 2);
  EXPECT_EQ(count_kind(*g.data(), detail::NodeKind::capture), captures + (ops - 2) + 3);

  Graph g2;
  Tensor y2 = model(g2.input("x", {3}));
  Executable exe = compile(g2, {y2});
  expect_same(exe.run({{"x", xv}})[0], eager);
}

TEST(ConstantFolding, TrainingSeedGradientsStayCorrect) {
  // The autodiff seed (ones) is a traced constant: ops on it fold.
  Generator gen(5);
  Tensor w = Tensor::randn({3, 4}, gen, float64).requires_grad_();
  Tensor xv = Tensor::randn({2, 3}, gen, float64);
  Tensor loss = sum(matmul(xv, w));
  loss.backward();
  Graph g({.training = true});
  Tensor ls = sum(matmul(g.input("x", {2, 3}, float64), w));
  std::vector<Tensor> grads = gradients(ls, {w});
  Executable exe = compile(g, {ls, grads[0]}, {.training = true});
  std::vector<Tensor> out = exe.run({{"x", xv}});
  expect_close(out[0], loss, 1e-12, 1e-14);
  expect_close(out[1], w.grad(), 1e-12, 1e-14);
}
