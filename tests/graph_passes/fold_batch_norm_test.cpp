// Batch-norm folding into conv2d (eval graphs), bit_exact, and the pass dumps.
#include <algorithm>
#include <iostream>
#include <memory>

#include "duet/nn.h"
#include "pass_test_util.h"

using namespace duet;
using namespace duet::test;
using detail::fold_batch_norm;

namespace {

struct ConvBn {
  std::shared_ptr<nn::Conv2d> conv;
  std::shared_ptr<nn::BatchNorm2d> bn;
  ConvBn(int64_t c, int64_t o, bool bias, uint64_t seed) {
    Generator gen(seed);
    conv = std::make_shared<nn::Conv2d>(c, o, 3, Conv2dOptions{.padding = {1, 1}}, bias, gen);
    bn = std::make_shared<nn::BatchNorm2d>(o);
    // Random affine parameters and running statistics (not the 1 / 0 defaults).
    NoGradGuard ng;
    bn->weight.copy_(Tensor::uniform({o}, 0.5, 2.0, gen));
    bn->bias.copy_(Tensor::uniform({o}, -1.0, 1.0, gen));
    bn->running_mean.copy_(Tensor::uniform({o}, -0.5, 0.5, gen));
    bn->running_var.copy_(Tensor::uniform({o}, 0.1, 3.0, gen));
    conv->eval();
    bn->eval();
  }
  Tensor operator()(const Tensor& x) { return relu((*bn)((*conv)(x))); }
};

// max |a - b| / max |b|
double rel_error(const Tensor& a, const Tensor& b) {
  std::vector<double> va = a.to_vector<double>(), vb = b.to_vector<double>();
  double diff = 0, mag = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    diff = std::max(diff, std::abs(va[i] - vb[i]));
    mag = std::max(mag, std::abs(vb[i]));
  }
  return diff / mag;
}

}  // namespace

TEST(FoldBatchNorm, ReplacesConvAndAffineByOneConv) {
  for (bool bias : {true, false}) {
    ConvBn net(3, 8, bias, 11);
    Graph g;
    Tensor y = net(g.input("x", {2, 3, 6, 6}));
    EXPECT_EQ(count_op(*g.data(), "conv2d"), 1);
    EXPECT_EQ(count_op(*g.data(), "channel_affine"), 1);
    const int muls = count_op(*g.data(), "mul");
    run_pass(g, {y}, fold_batch_norm);
    expect_topological(*g.data());
    EXPECT_EQ(count_op(*g.data(), "conv2d"), 1);
    EXPECT_EQ(count_op(*g.data(), "channel_affine"), 0);
    EXPECT_EQ(count_op(*g.data(), "reshape"), 1);
    EXPECT_EQ(count_op(*g.data(), "mul"), muls + (bias ? 2 : 1));  // W * scale, b * scale
    // The new conv reads the scaled weight and a bias.
    for (const detail::Node& n : g.data()->nodes)
      if (!n.dead && n.kind == detail::NodeKind::op && n.op->name == "conv2d") {
        EXPECT_EQ(n.inputs.size(), 3u);
      }
  }
}

TEST(FoldBatchNorm, EvalGraphMatchesEager) {
  for (bool bias : {true, false}) {
    ConvBn net(4, 16, bias, 12);
    Generator gen(13);
    Tensor xv = Tensor::randn({2, 4, 9, 7}, gen);
    Tensor eager;
    {
      NoGradGuard ng;
      eager = net(xv);
    }
    Graph g;
    Tensor y = net(g.input("x", {2, 4, 9, 7}));
    Executable exe = compile(g, {y});
    EXPECT_TRUE(ran(exe, "fold_batch_norm"));
    EXPECT_EQ(count_op(*exe.impl()->graph, "channel_affine"), 0);
    Tensor out = exe.run({{"x", xv}})[0];
    EXPECT_LT(rel_error(out, eager), 1e-5);
    expect_close(out, eager, 1e-4, 1e-5);
  }
}

TEST(FoldBatchNorm, FollowsParameterChangesAfterCompile) {
  ConvBn net(3, 8, true, 14);
  Generator gen(15);
  Tensor xv = Tensor::randn({1, 3, 5, 5}, gen);
  Graph g;
  Tensor y = net(g.input("x", {1, 3, 5, 5}));
  Executable exe = compile(g, {y});
  {
    NoGradGuard ng;
    net.bn->running_var.copy_(Tensor::uniform({8}, 0.1, 3.0, gen));
    net.bn->weight.copy_(Tensor::uniform({8}, -2.0, 2.0, gen));
    net.conv->weight.copy_(Tensor::randn(net.conv->weight.shape(), gen));
  }
  Tensor eager;
  {
    NoGradGuard ng;
    eager = net(xv);
  }
  EXPECT_LT(rel_error(exe.run({{"x", xv}})[0], eager), 1e-5);
}

TEST(FoldBatchNorm, NotWhenTheConvOutputHasOtherReaders) {
  ConvBn net(3, 8, true, 16);
  Graph g;
  Tensor c = (*net.conv)(g.input("x", {1, 3, 5, 5}));
  Tensor y = add((*net.bn)(c), c);
  run_pass(g, {y}, fold_batch_norm);
  EXPECT_EQ(count_op(*g.data(), "channel_affine"), 1);
}

TEST(FoldBatchNorm, BitExactSkipsIt) {
  ConvBn net(3, 8, true, 17);
  Generator gen(18);
  Tensor xv = Tensor::randn({2, 3, 6, 6}, gen);
  Tensor eager;
  {
    NoGradGuard ng;
    eager = net(xv);
  }
  Graph g;
  Tensor y = net(g.input("x", {2, 3, 6, 6}));
  Executable exe = compile(g, {y}, {.bit_exact = true});
  EXPECT_FALSE(ran(exe, "fold_batch_norm"));
  EXPECT_TRUE(ran(exe, "fuse_epilogue"));  // fusion keeps the arithmetic: it still runs
  EXPECT_EQ(count_op(*exe.impl()->graph, "channel_affine"), 1);
  expect_same(exe.run({{"x", xv}})[0], eager);
}

TEST(FoldBatchNorm, TrainingGraphsSkipIt) {
  ConvBn net(3, 4, true, 19);
  net.conv->train();
  net.bn->train();
  Graph g({.training = true});
  Tensor y = net(g.input("x", {2, 3, 4, 4}));
  Tensor loss = mean(y);
  Executable exe = compile(g, {loss}, {.training = true});
  EXPECT_FALSE(ran(exe, "fold_batch_norm"));
}

TEST(FoldBatchNorm, DumpsBeforeAndAfter) {
  ConvBn net(3, 4, true, 20);
  Graph g;
  Tensor y = net(g.input("x", {1, 3, 4, 4}));
  testing::internal::CaptureStderr();
  compile(g, {y}, {.dump_passes = true});
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("before fold_batch_norm"), std::string::npos);
  EXPECT_NE(err.find("after fold_batch_norm"), std::string::npos);
  // channel_affine is in the dump before the pass and gone after it.
  const size_t before = err.find("before fold_batch_norm"),
               after = err.find("after fold_batch_norm");
  const size_t next = err.find("--- before", after);
  EXPECT_NE(err.substr(before, after - before).find("channel_affine"), std::string::npos);
  EXPECT_EQ(err.substr(after, next - after).find("channel_affine"), std::string::npos);
}

TEST(FoldBatchNorm, ConvBnReluNodeCounts) {
  // The figures in the pass report: a conv-bn-relu net through the whole pipeline (but the
  // blocked layout, which turns the conv2d_fused into a conv2d_nchwc: tests/nchwc/).
  ConvBn net(3, 16, true, 21);
  Graph g;
  Tensor y = net(g.input("x", {1, 3, 8, 8}));
  Executable exe = compile(g, {y}, {.disabled_passes = {"nchwc_layout"}});
  std::string line;
  for (const PassStat& s : exe.pass_stats())
    line +=
        s.name + " " + std::to_string(s.nodes_before) + "->" + std::to_string(s.nodes_after) + "; ";
  std::cout << "conv-bn-relu: " << line << "\n" << exe.dump();
  EXPECT_EQ(count_op(*exe.impl()->graph, "conv2d_fused"), 1);
  EXPECT_EQ(count_op(*exe.impl()->graph, "conv2d"), 0);
  EXPECT_EQ(count_op(*exe.impl()->graph, "relu"), 0);
  EXPECT_EQ(count_op(*exe.impl()->graph, "channel_affine"), 0);
}

TEST(FoldBatchNorm, ConvReadingAFoldedConvIsFoldedToo) {
  // conv -> BN -> conv -> BN with no activation between (MobileNetV2's projection conv + BN
  // feeding the next block): the second conv reads a value the pass itself created.
  ConvBn a(3, 4, false, 21), b(4, 5, true, 22);
  Generator gen(23);
  Tensor x = Tensor::randn({2, 3, 6, 6}, gen);
  auto net = [&](const Tensor& in) { return (*b.bn)((*b.conv)((*a.bn)((*a.conv)(in)))); };
  Tensor eager;
  {
    NoGradGuard ng;
    eager = net(x);
  }
  Graph g;
  Tensor y = net(g.input("x", {2, 3, 6, 6}));
  Executable exe = compile(g, {y});
  EXPECT_EQ(count_op(*exe.impl()->graph, "channel_affine"), 0) << exe.dump();
  EXPECT_LE(rel_error(exe.run({{"x", x}})[0], eager), 1e-5);
}
