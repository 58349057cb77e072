// The nchwc_layout pass (src/graph/pass_nchwc_layout.cpp): which nodes it converts to the
// blocked layout, where it converts back, and compiled eval graphs against eager runs (the
// zoo models with random weights and batch-norm statistics; small graphs for each rule).
#include <functional>
#include <regex>
#include <sstream>

#include "duet/equivalence.h"
#include "duet/graph.h"
#include "duet/models.h"
#include "duet/models/fashion_cnn.h"
#include "duet/nn.h"
#include "duet/ops/fused.h"
#include "duet/optim.h"
#include "duet/simd.h"
#include "graph/passes.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

// Live nodes of op `op` in a dump ("  %7 = conv2d_nchwc(%3, %6) ...").
int count(const std::string& dump, const std::string& op) {
  const std::regex re("= " + op + "\\(");
  return static_cast<int>(
      std::distance(std::sregex_iterator(dump.begin(), dump.end(), re), std::sregex_iterator()));
}
int count_nchwc_ops(const std::string& dump) {
  int n = 0;
  for (const char* op :
       {"to_nchwc", "from_nchwc", "nchwc_pack_weight", "conv2d_nchwc", "depthwise_conv2d_nchwc",
        "max_pool2d_nchwc", "avg_pool2d_nchwc", "global_avg_pool_nchwc"})
    n += count(dump, op);
  return n;
}
// Nodes of op `op` that run every time (not hoisted: the folded batch-norm biases are adds).
int count_per_run(const std::string& dump, const std::string& op) {
  std::istringstream in(dump);
  int n = 0;
  for (std::string line; std::getline(in, line);)
    n += line.find("= " + op + "(") != std::string::npos &&
         line.find("[hoisted]") == std::string::npos;
  return n;
}
// Every nchwc_pack_weight line is hoisted (computed once from the captures).
bool packs_hoisted(const std::string& dump) {
  std::istringstream in(dump);
  for (std::string line; std::getline(in, line);)
    if (line.find("= nchwc_pack_weight(") != std::string::npos &&
        line.find("[hoisted]") == std::string::npos)
      return false;
  return true;
}

// Random batch-norm affine parameters and running statistics (the defaults, 1 / 0 / 0 / 1,
// would hide a scale or shift applied to the wrong channel).
void randomize_batch_norms(nn::Module& net, uint64_t seed) {
  Generator gen(seed);
  NoGradGuard no_grad;
  for (auto& [name, m] : net.named_modules()) {
    auto* bn = dynamic_cast<nn::BatchNorm2d*>(m);
    if (!bn) continue;
    const Shape c = bn->running_mean.shape();
    bn->running_mean.copy_(Tensor::uniform(c, -0.5, 0.5, gen));
    bn->running_var.copy_(Tensor::uniform(c, 0.5, 2.0, gen));
    if (bn->weight.defined()) bn->weight.copy_(Tensor::uniform(c, 0.5, 1.5, gen));
    if (bn->bias.defined()) bn->bias.copy_(Tensor::uniform(c, -0.5, 0.5, gen));
  }
}

struct Compiled {
  Executable exe;
  std::string dump;
};
Compiled compile_eval(nn::Module& net, const Shape& x_shape, const CompileOptions& opts = {}) {
  Graph g;
  Tensor y = net(g.input("x", x_shape));
  Executable exe = compile(g, {y}, opts);
  std::string d = exe.dump();
  return {std::move(exe), std::move(d)};
}
Tensor eager(nn::Module& net, const Tensor& x) {
  NoGradGuard no_grad;
  return net(x);
}

// The compiled graph (pass on) against the eager forward pass.
void expect_model_matches(const std::string& name, nn::Module& net, const Shape& x_shape,
                          uint64_t seed) {
  SCOPED_TRACE(name);
  net.eval();
  randomize_batch_norms(net, seed);
  Generator gen(seed + 1);
  const Tensor x = Tensor::randn(x_shape, gen);
  const Tensor ref = eager(net, x);
  Compiled c = compile_eval(net, x_shape);
  EXPECT_GT(count(c.dump, "conv2d_nchwc"), 0) << c.dump;
  EXPECT_NE(c.dump.find("nChw16c"), std::string::npos);
  EXPECT_EQ(count(c.dump, "conv2d") + count(c.dump, "conv2d_fused"), 0) << c.dump;
  EXPECT_TRUE(packs_hoisted(c.dump)) << c.dump;
  const Tensor y = c.exe.run({{"x", x}})[0].clone();
  EXPECT_LE(relative_difference(y, ref), 1e-4);
  // Twice: the second run reuses the packed weights.
  EXPECT_LE(relative_difference(c.exe.run({{"x", x}})[0], ref), 1e-4);
}

// The pass runs only while the kernels take their AVX-512 paths; these tests run it on any
// CPU (with the generic kernels where there is no AVX-512).
class NchwcLayoutPass : public ::testing::Test {
 protected:
  void SetUp() override { detail::force_nchwc_layout(true); }
  void TearDown() override { detail::force_nchwc_layout(false); }
};

}  // namespace

// ---- the zoo ------------------------------------------------------------------------------------

TEST_F(NchwcLayoutPass, ResNet18MatchesEager) {
  Generator gen(1);
  auto net = models::create_model("resnet18", 10, gen);
  expect_model_matches("resnet18", *net, {2, 3, 64, 64}, 10);
}

TEST_F(NchwcLayoutPass, ResNet50MatchesEager) {
  Generator gen(2);
  auto net = models::create_model("resnet50", 10, gen);
  expect_model_matches("resnet50", *net, {1, 3, 64, 64}, 20);
}

TEST_F(NchwcLayoutPass, MobileNetV2MatchesEager) {
  Generator gen(3);
  auto net = models::create_model("mobilenet_v2", 10, gen);
  expect_model_matches("mobilenet_v2", *net, {2, 3, 64, 64}, 30);
}

TEST_F(NchwcLayoutPass, EfficientNetB0MatchesEager) {
  Generator gen(4);
  auto net = models::create_model("efficientnet_b0", 10, gen);
  expect_model_matches("efficientnet_b0", *net, {2, 3, 64, 64}, 40);
}

TEST_F(NchwcLayoutPass, FashionCnnMatchesEager) {
  Generator gen(5);
  auto net = models::fashion_cnn(gen);
  expect_model_matches("fashion_cnn", *net, {2, 1, 28, 28}, 50);
}

// vgg16's convolution stack (its classifier alone is 120 M parameters: too slow for a unit
// test): 3x3 convs with relu, and 2x2 max pooling, through five stages.
TEST_F(NchwcLayoutPass, VggStackMatchesEager) {
  Generator gen(6);
  auto net = std::make_shared<nn::Sequential>();
  int64_t in = 3;
  for (int64_t out : {16, 32, 48, 64, 64}) {
    net->push_back(std::make_shared<nn::Conv2d>(in, out, 3, Conv2dOptions{.padding = {1, 1}},
                                                /*bias=*/true, gen));
    net->push_back(std::make_shared<nn::ReLU>());
    net->push_back(std::make_shared<nn::MaxPool2d>(2));
    in = out;
  }
  net->push_back(std::make_shared<nn::Flatten>());
  expect_model_matches("vgg_stack", *net, {2, 3, 64, 64}, 60);
}

// The stem is plain_input (no to_nchwc); the only reorder is the one before flatten + linear.
TEST_F(NchwcLayoutPass, ResNet18HasOneReorder) {
  Generator gen(1);
  auto net = models::create_model("resnet18", 10, gen);
  net->eval();
  const std::string d = compile_eval(*net, {1, 3, 64, 64}).dump;
  EXPECT_EQ(count(d, "to_nchwc"), 0) << d;
  EXPECT_EQ(count(d, "from_nchwc"), 1) << d;
  EXPECT_EQ(count(d, "conv2d_nchwc"), 20) << d;
  EXPECT_EQ(count(d, "nchwc_pack_weight"), 20) << d;
  EXPECT_EQ(count(d, "max_pool2d_nchwc"), 1) << d;
  EXPECT_EQ(count(d, "global_avg_pool_nchwc"), 1) << d;
  EXPECT_NE(d.find("format=plain_input"), std::string::npos) << d;
  // Every residual add went into a conv's epilogue.
  EXPECT_EQ(count_per_run(d, "add") + count_per_run(d, "add_relu"), 0) << d;
}

// Depthwise convs, the linear bottleneck's residual add in the conv, the squeeze-excitation
// mul of (N, C, H, W) by (N, C, 1, 1) blocked: one reorder, before the classifier.
TEST_F(NchwcLayoutPass, MobileNetAndEfficientNetStayBlocked) {
  for (const char* name : {"mobilenet_v2", "efficientnet_b0"}) {
    SCOPED_TRACE(name);
    Generator gen(3);
    auto net = models::create_model(name, 10, gen);
    net->eval();
    const std::string d = compile_eval(*net, {1, 3, 64, 64}).dump;
    EXPECT_GT(count(d, "depthwise_conv2d_nchwc"), 10) << d;
    EXPECT_EQ(count(d, "to_nchwc"), 0) << d;
    EXPECT_EQ(count(d, "from_nchwc"), 1) << d;
    EXPECT_EQ(count_per_run(d, "add"), 0) << d;
  }
}

// ---- when the pass does not run -----------------------------------------------------------------

TEST_F(NchwcLayoutPass, NotWithBitExactDisabledOrTraining) {
  Generator gen(5);
  auto net = models::fashion_cnn(gen);
  net->eval();
  EXPECT_GT(count_nchwc_ops(compile_eval(*net, {2, 1, 28, 28}).dump), 0);
  EXPECT_EQ(count_nchwc_ops(compile_eval(*net, {2, 1, 28, 28}, {.bit_exact = true}).dump), 0);
  EXPECT_EQ(count_nchwc_ops(
                compile_eval(*net, {2, 1, 28, 28}, {.disabled_passes = {"nchwc_layout"}}).dump),
            0);
  net->train();
  optim::SGD opt(net->parameters(), 0.1);
  Graph g({.training = true});
  Tensor loss = cross_entropy((*net)(g.input("x", {2, 1, 28, 28})), g.input("y", {2}, int64));
  Executable step = compile(g, {loss}, {.training = true, .optimizer = &opt});
  EXPECT_EQ(count_nchwc_ops(step.dump()), 0) << step.dump();
}

// Without AVX-512 kernels (DUET_CPU_ISA=generic, or a CPU without them) the pass does not run:
// the generic blocked convolution is slower than the plain one.
TEST(NchwcLayoutPassIsa, OnlyWithAvx512Kernels) {
  Generator gen(5);
  auto net = models::fashion_cnn(gen);
  net->eval();
  simd::set_kernel_isa(simd::Isa::generic);
  const std::string generic = compile_eval(*net, {2, 1, 28, 28}).dump;
  simd::reset_kernel_isa();
  EXPECT_EQ(count_nchwc_ops(generic), 0) << generic;
  const std::string best = compile_eval(*net, {2, 1, 28, 28}).dump;
  EXPECT_EQ(count_nchwc_ops(best) > 0, simd::kernel_isa() == simd::Isa::avx512) << best;
}

// float64 graphs keep their plain convolutions.
TEST_F(NchwcLayoutPass, Float64StaysPlain) {
  Generator gen(8);
  const Tensor w = Tensor::randn({16, 8, 3, 3}, gen, float64);
  Graph g;
  Tensor y = relu(conv2d(g.input("x", {1, 8, 6, 6}, float64), w, Tensor(), {.padding = {1, 1}}));
  Executable exe = compile(g, {y});
  EXPECT_EQ(count_nchwc_ops(exe.dump()), 0) << exe.dump();
}

// ---- rules on small graphs ----------------------------------------------------------------------

namespace {

struct Small {
  Generator gen{21};
  Tensor w1 = mul(Tensor::randn({20, 8, 3, 3}, gen), 0.2);  // 20 channels: a partial block
  Tensor b1 = Tensor::randn({20}, gen);
  Tensor w2 = mul(Tensor::randn({20, 20, 1, 1}, gen), 0.2);
  Tensor x = Tensor::randn({2, 8, 7, 6}, gen);
};

// Builds `f` once in a graph and once eagerly; compares every output (1e-4) and returns the
// compiled graph's dump.
std::string expect_graph_matches(const std::function<std::vector<Tensor>(const Tensor&)>& f,
                                 const Tensor& x) {
  std::vector<Tensor> ref;
  {
    NoGradGuard no_grad;
    ref = f(x);
  }
  Graph g;
  std::vector<Tensor> ys = f(g.input("x", x.shape()));
  Executable exe = compile(g, ys);
  std::vector<Tensor> got = exe.run({{"x", x}});
  EXPECT_EQ(got.size(), ref.size());
  for (size_t i = 0; i < got.size() && i < ref.size(); ++i)
    EXPECT_LE(relative_difference(got[i], ref[i]), 1e-4) << "output " << i << "\n" << exe.dump();
  return exe.dump();
}

}  // namespace

// Elementwise ops of the whitelist stay blocked, with broadcast operands of each kind: a
// (1, C, 1, 1) constant (to_nchwc, hoisted), a (N, 1, H, W) value (reshaped), a one-element
// tensor; div is not finite on the zero padding: it reads from_nchwc.
TEST_F(NchwcLayoutPass, ElementwiseOpsAndBroadcasts) {
  Small s;
  const Tensor scale = Tensor::randn({1, 20, 1, 1}, s.gen);
  const Tensor one = Tensor::full({1}, 0.5);
  const std::string d = expect_graph_matches(
      [&](const Tensor& x) {
        Tensor a = conv2d(x, s.w1, s.b1, {.padding = {1, 1}});  // (2, 20, 7, 6)
        Tensor b = mul(silu(a), scale);
        Tensor c = sub(b, mean(a, {1}, /*keepdim=*/true));  // (2, 1, 7, 6)
        Tensor e = add(hardswish(c), one);
        Tensor f = div(e, Tensor::full({1}, 3.0));
        return std::vector<Tensor>{f};
      },
      s.x);
  EXPECT_EQ(count(d, "silu"), 1) << d;
  EXPECT_GE(count(d, "reshape"), 1) << d;  // mean's (2, 1, 7, 6) -> (2, 1, 7, 6, 1)
  // from_nchwc for mean's input and div's; to_nchwc for x and the constant (hoisted).
  EXPECT_EQ(count(d, "from_nchwc"), 2) << d;
  EXPECT_EQ(count(d, "to_nchwc"), 2) << d;
}

// A value with several plain readers (and a requested output) gets one from_nchwc; a plain
// value read by two convs one to_nchwc; a max pool whose indices are read, a grouped conv and
// an adaptive pool to (2, 2) stay plain.
TEST_F(NchwcLayoutPass, SharedReordersAndPlainOps) {
  Small s;
  const Tensor wg = mul(Tensor::randn({20, 10, 3, 3}, s.gen), 0.2);  // groups 2
  const std::string d = expect_graph_matches(
      [&](const Tensor& x) {
        Tensor x2 = mul(x, 2.0);  // plain, 8 channels
        Tensor a = relu(conv2d(x2, s.w1, s.b1, {.padding = {1, 1}}));
        Tensor b = conv2d(x2, s.w1, Tensor(), {.stride = {2, 2}});
        std::vector<Tensor> pi = max_pool2d_with_indices(a, {.kernel = {2, 2}, .stride = {2, 2}});
        Tensor q = conv2d(a, wg, Tensor(), {.padding = {1, 1}, .groups = 2});
        Tensor r = adaptive_avg_pool2d(a, {2, 2});
        return std::vector<Tensor>{a, flatten(a, 1), pi[0], pi[1], q, r, b};
      },
      s.x);
  EXPECT_EQ(count(d, "to_nchwc"), 1) << d;
  EXPECT_EQ(count(d, "from_nchwc"), 2) << d;  // a, b
  EXPECT_EQ(count(d, "max_pool2d"), 1) << d;
  EXPECT_EQ(count(d, "conv2d"), 1) << d;
  EXPECT_EQ(count(d, "conv2d_nchwc"), 2) << d;
}

// Pooling on blocked values: max (ceil mode), avg (padding excluded), global average.
TEST_F(NchwcLayoutPass, Pooling) {
  Small s;
  const std::string d = expect_graph_matches(
      [&](const Tensor& x) {
        Tensor a = relu6(conv2d(x, s.w1, s.b1, {.padding = {1, 1}}));
        Tensor p = max_pool2d(a, {.kernel = {3, 3}, .stride = {2, 2}, .ceil_mode = true});
        Tensor q = avg_pool2d(
            conv2d(p, s.w2),
            {.kernel = {3, 3}, .stride = {1, 1}, .padding = {1, 1}, .count_include_pad = false});
        return std::vector<Tensor>{adaptive_avg_pool2d(q, {1, 1})};
      },
      s.x);
  EXPECT_EQ(count(d, "max_pool2d_nchwc"), 1) << d;
  EXPECT_EQ(count(d, "avg_pool2d_nchwc"), 1) << d;
  EXPECT_EQ(count(d, "global_avg_pool_nchwc"), 1) << d;
  EXPECT_EQ(count(d, "to_nchwc"), 1) << d;
  EXPECT_EQ(count(d, "from_nchwc"), 1) << d;
}

// conv2d_fused's epilogue (bias, residual, activation) carries over; a plain residual is
// converted; a depthwise conv with a plain input is converted too.
TEST_F(NchwcLayoutPass, FusedConvAndDepthwise) {
  Small s;
  const Tensor wd = mul(Tensor::randn({8, 1, 5, 5}, s.gen), 0.2);
  const Tensor bd = Tensor::randn({8}, s.gen);
  const Tensor res = Tensor::randn({2, 20, 7, 6}, s.gen);
  const std::string d = expect_graph_matches(
      [&](const Tensor& x) {
        Tensor a = conv2d(x, wd, bd, {.padding = {2, 2}, .groups = 8});
        Tensor b = conv2d_fused(a, s.w1, s.b1, res, {.padding = {1, 1}}, "silu");
        return std::vector<Tensor>{b};
      },
      s.x);
  EXPECT_EQ(count(d, "depthwise_conv2d_nchwc"), 1) << d;
  EXPECT_EQ(count(d, "conv2d_nchwc"), 1) << d;
  EXPECT_EQ(count(d, "to_nchwc"), 2) << d;  // x and the residual (hoisted)
}

// ---- weights, equivalence -----------------------------------------------------------------------

// Writing a conv weight after compile: the hoisted pack runs again, as eager sees the change.
TEST_F(NchwcLayoutPass, WeightChangeAfterCompile) {
  Generator gen(9);
  auto net = models::fashion_cnn(gen);
  net->eval();
  randomize_batch_norms(*net, 90);
  const Tensor x = Tensor::randn({2, 1, 28, 28}, gen);
  Compiled c = compile_eval(*net, {2, 1, 28, 28});
  const Tensor before = c.exe.run({{"x", x}})[0].clone();
  EXPECT_LE(relative_difference(before, eager(*net, x)), 1e-4);
  {
    NoGradGuard no_grad;
    for (auto& [name, t] : net->named_parameters())
      if (t.dim() == 4) t.copy_(mul(Tensor::randn(t.shape(), gen), 0.3));
  }
  const Tensor ref = eager(*net, x);
  EXPECT_GT(relative_difference(before, ref), 1e-2);
  EXPECT_LE(relative_difference(c.exe.run({{"x", x}})[0], ref), 1e-4);
}

// check_equivalence (training graphs: the pass does not run there) still works on a model.
TEST_F(NchwcLayoutPass, EquivalenceCheckerStillWorks) {
  Generator gen(10);
  auto net = models::fashion_cnn(gen, 0.0);
  std::vector<std::pair<Tensor, Tensor>> batches;
  batches.emplace_back(Tensor::randn({2, 1, 28, 28}, gen),
                       Tensor::from_vector(std::vector<int64_t>{3, 7}, {2}));
  EquivalenceReport r = check_equivalence(
      *net, [](const Tensor& o, const Tensor& y) { return cross_entropy(o, y); }, batches, 2);
  EXPECT_TRUE(r.equivalent) << r.str();
}
