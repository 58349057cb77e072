#include "duet/graph.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

TEST(Graph, EvalMatchesEager) {
  Generator gen(3);
  Tensor w = Tensor::randn({4, 3}, gen).requires_grad_();
  Tensor b = Tensor::randn({4}, gen).requires_grad_();
  Tensor x = Tensor::randn({2, 3}, gen);
  Tensor eager = relu(linear(x, w, b)) * 2.0 + 1.0;

  Graph g;
  Tensor xs = g.input("x", {2, 3});
  EXPECT_TRUE(xs.is_symbolic());
  Tensor ys = relu(linear(xs, w, b)) * 2.0 + 1.0;
  EXPECT_TRUE(ys.is_symbolic());
  EXPECT_EQ(ys.shape(), (Shape{2, 4}));
  Executable exe = compile(g, {ys});
  std::vector<Tensor> out = exe.run({{"x", x}});
  expect_close(out[0], eager, 0, 0);
  // A second run with other data.
  Tensor x2 = Tensor::randn({2, 3}, gen);
  expect_close(exe.run({{"x", x2}})[0], relu(linear(x2, w, b)) * 2.0 + 1.0, 0, 0);
}

TEST(Graph, GradientsMatchEager) {
  Generator gen(4);
  Tensor w = Tensor::randn({4, 3}, gen, float64).requires_grad_();
  Tensor x = Tensor::randn({5, 3}, gen, float64);
  Tensor y = Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 3, 1}, {5});
  Tensor loss = cross_entropy(matmul(x, w.transpose(0, 1)), y);
  loss.backward();
  Tensor eager_grad = w.grad();

  Graph g({.training = true});
  Tensor xs = g.input("x", {5, 3}, float64);
  Tensor ys = g.input("y", {5}, int64);
  Tensor ls = cross_entropy(matmul(xs, w.transpose(0, 1)), ys);
  std::vector<Tensor> grads = gradients(ls, {w});
  Executable exe = compile(g, {ls, grads[0]}, {.training = true});
  std::vector<Tensor> out = exe.run({{"x", x}, {"y", y}});
  expect_close(out[0], loss, 0, 0);
  expect_close(out[1], eager_grad, 1e-12, 1e-14);
}

TEST(Graph, BadFeeds) {
  Graph g;
  Tensor xs = g.input("x", {2, 3});
  Tensor ys = xs * 2.0;
  Executable exe = compile(g, {ys});
  EXPECT_DUET_ERROR(exe.run({}), "input 'x'", "graph_basic_test.cpp", "not fed");
  EXPECT_DUET_ERROR(exe.run({{"x", Tensor::zeros({3, 3})}}), "input 'x'", "(3, 3)", "(2, 3)");
  EXPECT_DUET_ERROR(exe.run({{"x", Tensor::zeros({2, 3}, float64)}}), "float64", "float32");
  EXPECT_DUET_ERROR(exe.run({{"x", Tensor::zeros({2, 3})}, {"z", Tensor::zeros({1})}}), "'z'",
                    "not an input");
}

TEST(Graph, ReadingASymbolicValueIsAnError) {
  Graph g;
  Tensor xs = g.input("x", {1});
  EXPECT_DUET_ERROR(xs.item<float>(), "symbolic");
}

TEST(Graph, TensorFromAnotherGraph) {
  Graph g1;
  Tensor a = g1.input("a", {2});
  g1.end_build();
  Graph g2;
  Tensor b = g2.input("b", {2});
  EXPECT_DUET_ERROR(add(a, b), "add", "another graph", "graph_basic_test.cpp");
}

TEST(Graph, CompilingTwiceIsAnError) {
  Graph g;
  Tensor x = g.input("x", {2});
  Tensor y = relu(x);
  Executable exe = compile(g, {y});
  EXPECT_DUET_ERROR(compile(g, {y}), "compile", "already compiled");
  EXPECT_DUET_ERROR(relu(y), "relu", "no longer being built");
  EXPECT_DUET_ERROR(compile(g, {y}, {.training = true}), "compile");
}

TEST(Graph, TrainEvalMismatchIsAnError) {
  Graph g({.training = true});
  Tensor x = g.input("x", {2});
  EXPECT_DUET_ERROR(compile(g, {relu(x)}), "compile", "built for training",
                    "CompileOptions::training = false");
}

TEST(Graph, DumpsShowOpsShapesAndLocations) {
  Graph g;
  Tensor x = g.input("x", {2, 3});
  const int line = __LINE__ + 1;
  Tensor y = relu(x) * 2.0;
  const std::string text = g.dump();
  EXPECT_NE(text.find("input \"x\" -> (2, 3) float32"), std::string::npos) << text;
  EXPECT_NE(text.find("relu(%0) -> (2, 3) float32  @ graph_basic_test.cpp:" + std::to_string(line)),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("mul_scalar(%1) [value=2]"), std::string::npos) << text;
  const std::string dot = g.to_dot();
  EXPECT_NE(dot.find("digraph"), std::string::npos);
  EXPECT_NE(dot.find("n0 -> n1;"), std::string::npos) << dot;
  EXPECT_NE(dot.find("relu"), std::string::npos);
}
