// Epilogue fusion: conv2d / linear + activation (+ residual), add + relu.
#include <functional>

#include "duet/nn.h"
#include "duet/optim.h"
#include "pass_test_util.h"

using namespace duet;
using namespace duet::test;
using detail::fuse_epilogues;

namespace {

using Act = std::function<Tensor(const Tensor&)>;
struct NamedAct {
  const char* name;
  Act fn;
};
const std::vector<NamedAct>& activations() {
  static const std::vector<NamedAct> acts = {
      {"relu", [](const Tensor& t) { return relu(t); }},
      {"relu6", [](const Tensor& t) { return relu6(t); }},
      {"sigmoid", [](const Tensor& t) { return sigmoid(t); }},
      {"silu", [](const Tensor& t) { return silu(t); }},
      {"hardswish", [](const Tensor& t) { return hardswish(t); }},
      // an activation with attrs: the fused node carries them (beta 2, threshold 3)
      {"softplus", [](const Tensor& t) { return softplus(t, 2.0, 3.0); }},
  };
  return acts;
}

// Compiles `model` on an input of `shape` with and without fusion; both must equal eager
// exactly (fusion keeps the float operations and their order). Returns the fused graph.
std::shared_ptr<detail::GraphData> check_fused_equals_eager(
    const std::function<Tensor(const Tensor&)>& model, const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  Tensor xv = Tensor::randn(shape, gen);
  Tensor eager = model(xv);
  std::shared_ptr<detail::GraphData> fused;
  for (bool fuse : {true, false}) {
    Graph g;
    Tensor y = model(g.input("x", shape));
    // The blocked layout (on by default in eval graphs) sums in another order.
    CompileOptions opts{.disabled_passes = {"nchwc_layout"}};
    if (!fuse) opts.disabled_passes.insert("fuse_epilogue");
    Executable exe = compile(g, {y}, opts);
    Tensor out = exe.run({{"x", xv}})[0];
    SCOPED_TRACE(fuse ? "fused" : "unfused");
    expect_same(out, eager);
    if (fuse) fused = exe.impl()->graph;
  }
  return fused;
}

}  // namespace

TEST(FuseEpilogue, ConvActivation) {
  Generator gen(1);
  Tensor w = Tensor::randn({6, 3, 3, 3}, gen);
  Tensor b = Tensor::randn({6}, gen);
  for (const NamedAct& act : activations()) {
    SCOPED_TRACE(act.name);
    // Pass alone: conv2d + activation -> conv2d_fused.
    Graph g;
    Tensor y = act.fn(conv2d(g.input("x", {2, 3, 8, 8}), w, b, {.padding = {1, 1}}));
    run_pass(g, {y}, fuse_epilogues);
    EXPECT_EQ(count_op(*g.data(), "conv2d_fused"), 1);
    EXPECT_EQ(count_op(*g.data(), "conv2d"), 0);
    EXPECT_EQ(count_op(*g.data(), act.name), 0);
    for (const detail::Node& n : g.data()->nodes)
      if (n.kind == detail::NodeKind::op) {
        EXPECT_EQ(n.attrs.s("activation"), act.name);
        EXPECT_TRUE(n.attrs.b("has_bias"));
        EXPECT_FALSE(n.attrs.b("has_residual"));
      }
    // Compiled: several 2048-element blocks and a ragged tail (2 * 6 * 31 * 29 elements).
    auto fused = check_fused_equals_eager(
        [&](const Tensor& x) {
          return act.fn(conv2d(x, w, b, {.padding = {1, 1}}));
        },
        {2, 3, 31, 29}, 2);
    EXPECT_EQ(count_op(*fused, "conv2d_fused"), 1);
    // Without bias, strided, grouped.
    Tensor wg = Tensor::randn({6, 1, 3, 3}, gen);
    check_fused_equals_eager(
        [&](const Tensor& x) {
          return act.fn(conv2d(x, wg, Tensor(), {.stride = {2, 2}, .groups = 3}));
        },
        {1, 3, 11, 10}, 3);
  }
}

// softplus (beta, threshold) fuses into conv2d_fused in an eval graph: the fused node carries
// the activation's attrs and gives the unfused bits on both sides of the threshold.
TEST(FuseEpilogue, SoftplusWithAttrsFusesIntoConv) {
  Generator gen(9);
  Tensor w = Tensor::randn({5, 3, 3, 3}, gen);
  Tensor b = Tensor::randn({5}, gen);
  auto model = [&](const Tensor& x) {
    return softplus(conv2d(x, w, b, {.padding = {1, 1}}), 0.5, 1.0);
  };
  Graph g;
  Tensor y = model(g.input("x", {2, 3, 9, 7}));
  run_pass(g, {y}, fuse_epilogues);
  EXPECT_EQ(count_op(*g.data(), "conv2d_fused"), 1);
  EXPECT_EQ(count_op(*g.data(), "softplus"), 0);
  for (const detail::Node& n : g.data()->nodes)
    if (n.kind == detail::NodeKind::op) {
      EXPECT_EQ(n.attrs.s("activation"), "softplus");
      EXPECT_EQ(n.attrs.f("beta"), 0.5);
      EXPECT_EQ(n.attrs.f("threshold"), 1.0);
    }
  auto fused = check_fused_equals_eager(model, {2, 3, 33, 31}, 10);
  EXPECT_EQ(count_op(*fused, "conv2d_fused"), 1);
  // Eagerly, with the activation's attrs given to conv2d_fused directly.
  Tensor x = Tensor::randn({2, 3, 9, 7}, gen);
  Attrs sp;
  sp.set("beta", 0.5).set("threshold", 1.0);
  expect_same(conv2d_fused(x, w, b, Tensor(), {.padding = {1, 1}}, "softplus", sp), model(x));
}

TEST(FuseEpilogue, ConvResidualActivation) {
  Generator gen(4);
  Tensor w = Tensor::randn({4, 4, 3, 3}, gen);
  Tensor b = Tensor::randn({4}, gen);
  for (const NamedAct& act : activations()) {
    SCOPED_TRACE(act.name);
    for (bool conv_first : {true, false}) {
      auto model = [&](const Tensor& x) {
        Tensor c = conv2d(x, w, b, {.padding = {1, 1}});
        return act.fn(conv_first ? add(c, x) : add(x, c));  // residual: the block's input
      };
      Graph g;
      Tensor y = model(g.input("x", {2, 4, 6, 6}));
      run_pass(g, {y}, fuse_epilogues);
      EXPECT_EQ(count_op(*g.data(), "conv2d_fused"), 1);
      EXPECT_EQ(count_op(*g.data(), "add"), 0);
      EXPECT_EQ(count_op(*g.data(), act.name), 0);
      for (const detail::Node& n : g.data()->nodes)
        if (n.kind == detail::NodeKind::op) {
          EXPECT_TRUE(n.attrs.b("has_residual"));
          EXPECT_EQ(n.inputs.size(), 4u);
        }
      check_fused_equals_eager(model, {2, 4, 23, 25}, 5);
    }
  }
}

TEST(FuseEpilogue, LinearActivation) {
  Generator gen(6);
  Tensor w = Tensor::randn({37, 20}, gen);
  Tensor b = Tensor::randn({37}, gen);
  for (const NamedAct& act : activations()) {
    SCOPED_TRACE(act.name);
    for (bool bias : {true, false}) {
      auto model = [&](const Tensor& x) { return act.fn(linear(x, w, bias ? b : Tensor())); };
      Graph g;
      Tensor y = model(g.input("x", {3, 20}));
      run_pass(g, {y}, fuse_epilogues);
      EXPECT_EQ(count_op(*g.data(), "linear_fused"), 1);
      EXPECT_EQ(count_op(*g.data(), "linear"), 0);
      auto fused = check_fused_equals_eager(model, {150, 20}, 7);
      EXPECT_EQ(count_op(*fused, "linear_fused"), 1);
    }
  }
}

TEST(FuseEpilogue, AddRelu) {
  Generator gen(8);
  Tensor c = Tensor::randn({3, 50}, gen);
  auto model = [&](const Tensor& x) { return relu(add(exp(x), sub(x, c))); };
  Graph g;
  Tensor y = model(g.input("x", {3, 50}));
  run_pass(g, {y}, fuse_epilogues);
  EXPECT_EQ(count_op(*g.data(), "add_relu"), 1);
  EXPECT_EQ(count_op(*g.data(), "add"), 0);
  EXPECT_EQ(count_op(*g.data(), "relu"), 0);
  auto fused = check_fused_equals_eager(model, {3, 50}, 9);
  EXPECT_EQ(count_op(*fused, "add_relu"), 1);

  // Broadcasting adds are left alone; other activations have no add_* op.
  Graph g2;
  Tensor x2 = g2.input("x", {3, 50});
  Tensor y2 = add(relu(add(x2, Tensor::randn({50}, gen))), sigmoid(add(x2, x2)));
  run_pass(g2, {y2}, fuse_epilogues);
  EXPECT_EQ(count_op(*g2.data(), "add_relu"), 0);
}

TEST(FuseEpilogue, NotWhenAnIntermediateHasOtherReaders) {
  Generator gen(10);
  Tensor w = Tensor::randn({4, 3, 3, 3}, gen);
  {
    Graph g;
    Tensor c = conv2d(g.input("x", {1, 3, 6, 6}), w);
    Tensor y = relu(c);
    run_pass(g, {y, c}, fuse_epilogues);  // c is requested
    EXPECT_EQ(count_op(*g.data(), "conv2d_fused"), 0);
  }
  {
    Graph g;
    Tensor c = conv2d(g.input("x", {1, 3, 6, 6}), w);
    Tensor y = add(relu(c), mean(c));  // c has another reader
    run_pass(g, {y}, fuse_epilogues);
    EXPECT_EQ(count_op(*g.data(), "conv2d_fused"), 0);
  }
  {
    // conv -> add -> relu where the add's output is read again: conv + relu are not fused.
    Graph g;
    Tensor x = g.input("x", {1, 4, 6, 6});
    Tensor s = add(conv2d(x, Tensor::randn({4, 4, 3, 3}, gen), Tensor(), {.padding = {1, 1}}), x);
    Tensor y = add(relu(s), s);
    run_pass(g, {y}, fuse_epilogues);
    EXPECT_EQ(count_op(*g.data(), "conv2d_fused"), 0);
    EXPECT_EQ(count_op(*g.data(), "add_relu"), 0);
  }
}

TEST(FuseEpilogue, TrainingGraphGradientsAndStepsEqualUnfused) {
  // conv + relu fuses in training graphs (relu's gradient reads its output); conv + silu does
  // not (silu's gradient reads the conv output). Same parameters after SGD steps, bit for bit.
  auto make = [](uint64_t seed) {
    Generator gen(seed);
    auto net = std::make_shared<nn::Sequential>();
    net->push_back(
        std::make_shared<nn::Conv2d>(2, 4, 3, Conv2dOptions{.padding = {1, 1}}, true, gen));
    net->push_back(std::make_shared<nn::ReLU>());
    net->push_back(std::make_shared<nn::Conv2d>(4, 4, 3, Conv2dOptions{}, true, gen));
    net->push_back(std::make_shared<nn::SiLU>());
    return net;
  };
  Generator gen(11);
  Tensor xv = Tensor::randn({2, 2, 7, 7}, gen);
  std::vector<std::vector<Tensor>> params;
  for (bool fuse : {true, false}) {
    auto net = make(12);
    optim::SGD opt(net->parameters(), 0.1, 0.9);
    Graph g({.training = true});
    Tensor loss = mean(mul((*net)(g.input("x", {2, 2, 7, 7})), 3.0));
    CompileOptions opts{.training = true, .optimizer = &opt};
    if (!fuse) opts.disabled_passes = {"fuse_epilogue"};
    Executable step = compile(g, {loss}, opts);
    EXPECT_EQ(count_op(*step.impl()->graph, "conv2d_fused"), fuse ? 1 : 0);
    EXPECT_EQ(count_op(*step.impl()->graph, "silu"), 1);
    for (int i = 0; i < 3; ++i) step.run({{"x", xv}});
    params.push_back({});
    for (const Tensor& p : net->parameters()) params.back().push_back(p.clone());
  }
  ASSERT_EQ(params[0].size(), params[1].size());
  for (size_t i = 0; i < params[0].size(); ++i) expect_same(params[0][i], params[1][i]);
}

TEST(FuseEpilogue, TrainingGradientsEqualEager) {
  Generator gen(13);
  Tensor w = Tensor::randn({3, 2, 3, 3}, gen, float64).requires_grad_();
  Tensor b = Tensor::randn({3}, gen, float64).requires_grad_();
  Tensor xv = Tensor::randn({2, 2, 5, 5}, gen, float64);
  auto model = [&](const Tensor& x) { return sum(relu6(conv2d(x, w, b, {.padding = {1, 1}}))); };
  Tensor loss = model(xv);
  loss.backward();
  Graph g({.training = true});
  Tensor ls = model(g.input("x", {2, 2, 5, 5}, float64));
  std::vector<Tensor> grads = gradients(ls, {w, b});
  Executable exe = compile(g, {ls, grads[0], grads[1]}, {.training = true});
  EXPECT_EQ(count_op(*exe.impl()->graph, "conv2d_fused"), 1);
  std::vector<Tensor> out = exe.run({{"x", xv}});
  expect_close(out[0], loss, 1e-12, 1e-14);
  expect_close(out[1], w.grad(), 1e-12, 1e-14);
  expect_close(out[2], b.grad(), 1e-12, 1e-14);
}

TEST(FuseEpilogue, AddReluRunsInPlace) {
  Graph g;
  Tensor x = g.input("x", {64, 64});
  Tensor y = sum(relu(add(exp(x), x)));
  Executable exe = compile(g, {y});
  ASSERT_EQ(count_op(*exe.impl()->graph, "add_relu"), 1);
  const auto& nodes = exe.impl()->graph->nodes;
  for (size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i].kind == detail::NodeKind::op && nodes[i].op->name == "add_relu") {
      EXPECT_TRUE(exe.impl()->plan.inplace[i]);  // over exp(x), which dies there
    }
}

TEST(FuseEpilogue, Conv2dFusedPlansConvWorkspace) {
  // conv2d_fused forwards conv2d's workspace_bytes: the plan reserves the same scratch.
  Generator gen(14);
  Tensor w = Tensor::randn({16, 8, 3, 3}, gen);
  int64_t ws[2] = {0, 0};
  for (bool fuse : {true, false}) {
    Graph g;
    Tensor y = relu(conv2d(g.input("x", {2, 8, 20, 20}), w, Tensor(), {.padding = {1, 1}}));
    CompileOptions opts{.disabled_passes = {"nchwc_layout"}};  // it would replace the conv
    if (!fuse) opts.disabled_passes.insert("fuse_epilogue");
    Executable exe = compile(g, {y}, opts);
    EXPECT_EQ(count_op(*exe.impl()->graph, "conv2d_fused"), fuse ? 1 : 0);
    int64_t m = 0;
    for (size_t s : exe.impl()->plan.workspace_size) m = std::max<int64_t>(m, s);
    ws[fuse ? 0 : 1] = m;
  }
  EXPECT_GT(ws[1], 0);
  EXPECT_EQ(ws[0], ws[1]);
}
