// Common-subexpression elimination.
#include "pass_test_util.h"

using namespace duet;
using namespace duet::test;
using detail::common_subexpression_elimination;

TEST(Cse, MergesEqualNodes) {
  Graph g;
  Tensor x = g.input("x", {2, 3});
  Tensor a = exp(mul(x, 2.0));
  Tensor b = exp(mul(x, 2.0));  // equal to a
  Tensor c = exp(mul(x, 3.0));  // other attrs: kept
  Tensor y = add(add(a, b), c);
  EXPECT_EQ(count_op(*g.data(), "mul_scalar"), 2 + 1);
  EXPECT_EQ(count_op(*g.data(), "exp"), 3);
  const size_t before = g.num_nodes();
  auto outs = run_pass(g, {y}, common_subexpression_elimination);
  EXPECT_EQ(count_op(*g.data(), "mul_scalar"), 2);
  EXPECT_EQ(count_op(*g.data(), "exp"), 2);
  EXPECT_EQ(g.num_nodes(), before - 2);
  expect_topological(*g.data());
  // The first add now reads one value twice.
  const detail::Node& out = g.data()->nodes[outs[0].node];
  const detail::Node& inner = g.data()->nodes[out.inputs[0].node];
  EXPECT_EQ(inner.op->name, "add");
  EXPECT_EQ(inner.inputs[0], inner.inputs[1]);
}

TEST(Cse, CompiledResultsEqualEager) {
  Generator gen(1);
  Tensor w = Tensor::randn({4, 3}, gen);
  Tensor xv = Tensor::randn({5, 3}, gen);
  auto model = [&](const Tensor& x) {
    Tensor h1 = relu(linear(x, w));
    Tensor h2 = relu(linear(x, w));
    return sum(mul(h1, h2)) + sum(sigmoid(linear(x, w)));
  };
  Tensor eager = model(xv);
  Graph g;
  Tensor y = model(g.input("x", {5, 3}));
  Executable exe = compile(g, {y});
  EXPECT_EQ(count_op(*exe.impl()->graph, "linear"), 1);
  expect_same(exe.run({{"x", xv}})[0], eager);
  const auto& stats = exe.pass_stats();
  ASSERT_GE(stats.size(), 2u);
  EXPECT_EQ(stats[1].name, "cse");
  EXPECT_LT(stats[1].nodes_after, stats[1].nodes_before);
}

TEST(Cse, SkipsRandomOps) {
  Graph g({.training = true});
  Tensor x = g.input("x", {64});
  Tensor a = dropout(x, 0.5, true);
  Tensor b = dropout(x, 0.5, true);
  Tensor y = add(a, b);
  run_pass(g, {y}, common_subexpression_elimination);
  EXPECT_EQ(count_op(*g.data(), "dropout"), 2);
}

TEST(Cse, RespectsInPlaceWrites) {
  // buf is written in place between the two reads: mul(buf, 2) before and after differ.
  Tensor buf = Tensor::full({3}, 1.0);
  Graph g;
  Tensor x = g.input("x", {3});
  Tensor before1 = mul(buf, 2.0);
  Tensor before2 = mul(buf, 2.0);  // no write in between: merged with before1
  {
    NoGradGuard ng;
    running_stat_update_(buf, x, 0.5);
  }
  Tensor after = mul(buf, 2.0);  // reads the updated buf: kept
  Tensor y = add(add(before1, before2), after);
  auto outs = run_pass(g, {y}, common_subexpression_elimination);
  EXPECT_EQ(count_op(*g.data(), "mul_scalar"), 2);
  EXPECT_EQ(count_op(*g.data(), "running_stat_update_"), 1);

  // The same graph compiled: buf = 1 -> 0.5 * 1 + 0.5 * x.
  Tensor buf2 = Tensor::full({3}, 1.0);
  Graph g2;
  Tensor x2 = g2.input("x", {3});
  Tensor b1 = mul(buf2, 2.0), b2 = mul(buf2, 2.0);
  {
    NoGradGuard ng;
    running_stat_update_(buf2, x2, 0.5);
  }
  Tensor y2 = add(add(b1, b2), mul(buf2, 2.0));
  Executable exe = compile(g2, {y2});
  Tensor out = exe.run({{"x", Tensor::from_vector({3, 5, 7}, {3})}})[0];
  // 2 + 2 + 2 * (0.5 + 0.5 * x)
  expect_values(out, {4 + 4, 4 + 6, 4 + 8});
}

TEST(Cse, NodesWhoseOutputIsWrittenAreKept) {
  Graph g;
  Tensor x = g.input("x", {3});
  Tensor a = mul(x, 2.0);
  Tensor b = mul(x, 2.0);
  {
    NoGradGuard ng;
    running_stat_update_(b, x, 0.5);  // writes b: a and b must stay two buffers
  }
  Tensor y = add(a, b);
  run_pass(g, {y}, common_subexpression_elimination);
  EXPECT_EQ(count_op(*g.data(), "mul_scalar"), 2);
}

TEST(Cse, TrainingGradientsEqualEager) {
  Generator gen(2);
  Tensor w = Tensor::randn({4, 3}, gen, float64).requires_grad_();
  Tensor b = Tensor::randn({4}, gen, float64).requires_grad_();
  Tensor xv = Tensor::randn({6, 3}, gen, float64);
  auto model = [&](const Tensor& x) {
    // The same subexpression twice, and gradients that repeat transposes / reshapes.
    Tensor h = tanh(linear(x, w, b));
    Tensor k = tanh(linear(x, w, b));
    return mean(mul(h, k)) + mean(h);
  };
  Tensor loss = model(xv);
  loss.backward();
  Tensor gw = w.grad(), gb = b.grad();

  for (bool cse : {false, true}) {
    Graph g({.training = true});
    Tensor ls = model(g.input("x", {6, 3}, float64));
    std::vector<Tensor> grads = gradients(ls, {w, b});
    CompileOptions opts{.training = true};
    if (!cse) opts.disabled_passes = {"cse"};
    Executable exe = compile(g, {ls, grads[0], grads[1]}, opts);
    if (cse) {
      EXPECT_EQ(count_op(*exe.impl()->graph, "linear"), 1);
    }
    std::vector<Tensor> out = exe.run({{"x", xv}});
    expect_close(out[0], loss, 1e-12, 1e-14);
    expect_close(out[1], gw, 1e-12, 1e-14);
    expect_close(out[2], gb, 1e-12, 1e-14);
  }
}
