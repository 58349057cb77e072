// Graph autocast (CompileOptions::autocast): the "autocast" pass inserts the casts eager
// autocast makes (output dtypes, eager values bit for bit), before autodiff; "cancel_casts"
// removes widening-then-narrowing pairs and never a narrowing-then-widening one; duplicate
// casts are merged (cse) and casts of weights are computed once in eval graphs (hoist).
#include <cstring>

#include "duet/amp.h"
#include "duet/jit.h"
#include "duet/nn.h"
#include "duet/optim.h"
#include "graph/executable.h"
#include "test_util.h"

using namespace duet;

namespace {

Tensor randn(const Shape& s, uint64_t seed) {
  Generator gen(seed);
  return Tensor::randn(s, gen);
}

int count_op(const detail::GraphData& g, const std::string& op) {
  int n = 0;
  for (const detail::Node& nd : g.nodes)
    n += !nd.dead && nd.kind == detail::NodeKind::op && nd.op->name == op;
  return n;
}

// cast nodes from `from` to `to`.
int count_casts(const detail::GraphData& g, DType from, DType to) {
  int n = 0;
  for (const detail::Node& nd : g.nodes)
    if (nd.is(OpId::cast) && g.meta(nd.inputs[0]).dtype == from && nd.outputs[0].dtype == to) ++n;
  return n;
}

std::vector<uint16_t> bits(const Tensor& t) {
  // Compare storage bits of any 16/32-bit dtype as float32 values' bits after widening
  // (widening is exact, so equal bits in = equal bits out).
  std::vector<float> v = t.to(float32).to_vector<float>();
  std::vector<uint16_t> r;
  for (float f : v) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    r.push_back(static_cast<uint16_t>(u >> 16));
    r.push_back(static_cast<uint16_t>(u));
  }
  return r;
}

}  // namespace

class AutocastGraph : public ::testing::TestWithParam<DType> {};

TEST_P(AutocastGraph, SameDtypesAndValuesAsEager) {
  const DType lowp = GetParam();
  Tensor xv = randn({4, 8}, 1), w = randn({6, 8}, 2), b = randn({6}, 3);
  auto model = [&](const Tensor& x) {
    Tensor h = relu(linear(x, w, b));  // lowp
    Tensor p = softmax(h, 1);          // float32
    return std::vector<Tensor>{h, p, add(p, x.slice(1, 0, 6))};
  };
  std::vector<Tensor> eager;
  {
    auto scope = autocast(lowp);
    eager = model(xv);
  }
  Graph g;
  std::vector<Tensor> outs = model(g.input("x", {4, 8}));
  EXPECT_EQ(outs[0].dtype(), float32);  // recorded without autocast: float32 until compile
  Executable exe = compile(g, outs, {.bit_exact = true, .autocast = lowp});
  std::vector<Tensor> r = exe.run({{"x", xv}});
  ASSERT_EQ(r.size(), 3u);
  for (size_t i = 0; i < r.size(); ++i) {
    EXPECT_EQ(r[i].dtype(), eager[i].dtype()) << i;
    EXPECT_EQ(bits(r[i]), bits(eager[i])) << i;
  }
  EXPECT_EQ(r[0].dtype(), lowp);
  EXPECT_EQ(r[1].dtype(), float32);
  // The dump shows the dtypes the pass chose.
  const std::string dump = exe.dump();
  EXPECT_NE(dump.find(std::string("linear")), std::string::npos) << dump;
  EXPECT_NE(dump.find(dtype_name(lowp)), std::string::npos) << dump;
  EXPECT_NE(dump.find(std::string("cast(%2) [dtype=") + dtype_name(lowp) + "]"), std::string::npos)
      << dump;
}

// Training: autodiff differentiates the cast graph, so parameters stay float32 with float32
// gradients, equal bit for bit to eager autocast's.
TEST_P(AutocastGraph, TrainingGradientsMatchEager) {
  const DType lowp = GetParam();
  Tensor xv = randn({5, 8}, 4);
  Tensor yv = Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 3, 1}, {5});
  auto make = [] {
    Generator gen(0);
    return std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
        std::make_shared<nn::Linear>(8, 16, true, gen), std::make_shared<nn::ReLU>(),
        std::make_shared<nn::Linear>(16, 4, true, gen)});
  };
  auto eager_net = make(), graph_net = make();
  optim::SGD eager_opt(eager_net->parameters(), 0.1), graph_opt(graph_net->parameters(), 0.1);
  Tensor eager_loss;
  {
    auto scope = autocast(lowp);
    eager_loss = cross_entropy((*eager_net)(xv), yv);
  }
  eager_loss.backward();
  eager_opt.step();

  Graph g({.training = true});
  Tensor loss = cross_entropy((*graph_net)(g.input("x", {5, 8})), g.input("y", {5}, int64));
  Executable exe = compile(
      g, {loss}, {.training = true, .optimizer = &graph_opt, .bit_exact = true, .autocast = lowp});
  Tensor l = exe.run({{"x", xv}, {"y", yv}})[0];
  EXPECT_EQ(l.dtype(), float32);
  EXPECT_EQ(l.item(), eager_loss.item());
  const auto pe = eager_net->parameters(), pg = graph_net->parameters();
  for (size_t i = 0; i < pe.size(); ++i) {
    EXPECT_EQ(pg[i].dtype(), float32);
    EXPECT_EQ(pg[i].to_vector<float>(), pe[i].to_vector<float>()) << "parameter " << i;
  }
  // Forward casts: x and the four parameters to lowp; the loss reads the logits in float32.
  const detail::GraphData& gd = *exe.impl()->graph;
  EXPECT_GE(count_casts(gd, float32, lowp), 5);
  EXPECT_GE(count_casts(gd, lowp, float32), 1);
}

// The pass is a no-op without the option and can be turned off by name.
TEST_P(AutocastGraph, OffByDefaultAndDisabledByName) {
  const DType lowp = GetParam();
  for (int variant = 0; variant < 2; ++variant) {
    Graph g;
    Tensor y = linear(g.input("x", {2, 3}), randn({4, 3}, 1));
    CompileOptions opts;
    if (variant == 1) {
      opts.autocast = lowp;
      opts.disabled_passes = {"autocast"};
    }
    Executable exe = compile(g, {y}, opts);
    EXPECT_EQ(count_op(*exe.impl()->graph, "cast"), 0);
    EXPECT_EQ(exe.run({{"x", randn({2, 3}, 2)}})[0].dtype(), float32);
  }
}

TEST(AutocastGraphErrors, GradientsTakenBeforeCompile) {
  Generator gen(0);
  nn::Linear fc(3, 2, true, gen);
  Graph g({.training = true});
  Tensor l = sum(fc(g.input("x", {4, 3})));
  std::vector<Tensor> grads = gradients(l, fc.parameters());
  std::vector<Tensor> outs{l};
  outs.insert(outs.end(), grads.begin(), grads.end());
  EXPECT_DUET_ERROR(compile(g, outs, {.training = true, .autocast = bfloat16}),
                    "gradients() was called before compile");
}

TEST(AutocastGraphErrors, NotALowPrecisionDtype) {
  Graph g;
  Tensor y = relu(g.input("x", {2}));
  EXPECT_DUET_ERROR(compile(g, {y}, {.autocast = float32}), "expected bfloat16 or float16");
}

// A graph built inside an eager scope already holds the casts; the pass finds nothing to add
// (also after gradients(), e.g. a jit trace function that takes gradients itself).
TEST(AutocastGraphPass, GraphBuiltUnderTheScope) {
  Generator gen(0);
  nn::Linear fc(3, 2, true, gen);
  Graph g({.training = true});
  Tensor l;
  {
    auto scope = autocast(bfloat16);
    l = sum(fc(g.input("x", {4, 3})));
  }
  std::vector<Tensor> grads = gradients(l, fc.parameters());
  const size_t before = g.num_nodes();
  std::vector<Tensor> outs{l};
  outs.insert(outs.end(), grads.begin(), grads.end());
  Executable exe =
      compile(g, outs, {.training = true, .keep_intermediates = true, .autocast = bfloat16});
  EXPECT_EQ(exe.num_nodes(), before);
  for (size_t i = 1; i < outs.size(); ++i) EXPECT_EQ(outs[i].dtype(), float32);
}

// cast(cast(x_bf16, f32), bf16) is x: the pair goes. cast(cast(x_f32, bf16), f32) rounds: it
// stays.
TEST(AutocastGraphPass, CancelsWideningPairsOnly) {
  Tensor wv = randn({4, 6}, 3);
  auto build = [&](Graph& g) {
    Tensor xb = g.input("xb", {2, 6}, bfloat16);
    Tensor xf = g.input("xf", {2, 6});
    Tensor a = linear(cast(xb, float32), wv);      // autocast: cast(cast(xb, f32), bf16)
    Tensor r = cast(cast(xf, bfloat16), float32);  // narrowing then widening: rounds
    Tensor c = cast(cast(xb, float64), bfloat16);  // widening to float64 and back
    return std::vector<Tensor>{a, r, mul(c, 2.0)};
  };
  Tensor xb = cast(randn({2, 6}, 1), bfloat16), xf = randn({2, 6}, 2);
  std::vector<Tensor> eager;
  {
    auto scope = autocast(bfloat16);
    Tensor a = linear(cast(xb, float32), wv);
    eager = {a, cast(cast(xf, bfloat16), float32), mul(cast(cast(xb, float64), bfloat16), 2.0)};
  }
  for (int variant = 0; variant < 4; ++variant) {
    // Both autocast slots: before autodiff (bit_exact) and late (eval).
    const bool cancel = variant % 2, exact = variant / 2;
    Graph g;
    std::vector<Tensor> outs = build(g);
    CompileOptions opts{.bit_exact = exact, .autocast = bfloat16};
    if (!cancel) opts.disabled_passes = {"cancel_casts"};
    Executable exe = compile(g, outs, opts);
    const detail::GraphData& gd = *exe.impl()->graph;
    // Without the pass: a's pair (user widening + autocast narrowing), the weight's cast,
    // r's two casts and c's pair through float64. With it: the weight's cast and r's two.
    EXPECT_EQ(count_casts(gd, bfloat16, float32), cancel ? 1 : 2) << gd.dump();
    EXPECT_EQ(count_casts(gd, float32, bfloat16), cancel ? 2 : 3) << gd.dump();
    EXPECT_EQ(count_casts(gd, bfloat16, float64), cancel ? 0 : 1) << gd.dump();
    EXPECT_EQ(count_casts(gd, float64, bfloat16), cancel ? 0 : 1) << gd.dump();
    EXPECT_EQ(count_op(gd, "cast"), cancel ? 3 : 7) << gd.dump();
    std::vector<Tensor> r = exe.run({{"xb", xb}, {"xf", xf}});
    for (size_t i = 0; i < r.size(); ++i) EXPECT_EQ(bits(r[i]), bits(eager[i])) << i;
    // r really rounds: it differs from xf.
    EXPECT_NE(r[1].to_vector<float>(), xf.to_vector<float>());
  }
}

// Eager makes one cast per use of a weight; the graph merges them (cse), and in an eval graph
// the cast of a weight is computed once, outside the arena (hoist).
TEST(AutocastGraphPass, DuplicateCastsMergedAndWeightCastsHoisted) {
  Tensor w = randn({8, 8}, 5);
  Graph g;
  Tensor x = g.input("x", {2, 8});
  Tensor y = linear(relu(linear(x, w)), w);  // w read twice
  Executable exe = compile(g, {y}, {.autocast = bfloat16});
  const detail::GraphData& gd = *exe.impl()->graph;
  int weight_casts = 0;
  for (const detail::Node& nd : gd.nodes) {
    if (!nd.is(OpId::cast)) continue;
    const detail::Node& src = gd.nodes[nd.inputs[0].node];
    if (src.kind == detail::NodeKind::capture) {
      ++weight_casts;
      EXPECT_TRUE(nd.hoisted) << gd.dump();
    } else {
      EXPECT_FALSE(nd.hoisted) << gd.dump();
    }
  }
  EXPECT_EQ(weight_casts, 1) << gd.dump();
  EXPECT_GT(exe.memory_report().derived, 0);  // the bfloat16 copy of w lives outside the arena
  Tensor xv = randn({2, 8}, 6), expected;
  {
    auto scope = autocast(bfloat16);
    expected = linear(relu(linear(xv, w)), w);
  }
  EXPECT_EQ(bits(exe.run({{"x", xv}})[0]), bits(expected));
  // A new weight value is picked up (the hoisted cast is recomputed).
  w.copy_(mul(w, 0.5));
  {
    auto scope = autocast(bfloat16);
    expected = linear(relu(linear(xv, w)), w);
  }
  EXPECT_EQ(bits(exe.run({{"x", xv}})[0]), bits(expected));
}

// jit: the option is passed to compile (the trace records the casts); the caller's scope is
// part of the cache key.
TEST(AutocastGraphPass, JitPassesTheOptionAndKeysOnTheScope) {
  Tensor w = randn({4, 3}, 1);
  auto f = jit([&](const std::vector<Tensor>& in) { return std::vector<Tensor>{linear(in[0], w)}; },
               {}, "f");
  Tensor xv = randn({2, 3}, 2);
  EXPECT_EQ(f({xv})[0].dtype(), float32);
  {
    auto scope = autocast(bfloat16);
    EXPECT_EQ(f({xv})[0].dtype(), bfloat16);
  }
  EXPECT_EQ(f.num_compiles(), 2u);
  EXPECT_NE(f.last_recompile_reason().find("autocast"), std::string::npos)
      << f.last_recompile_reason();
  auto h = jit([&](const std::vector<Tensor>& in) { return std::vector<Tensor>{linear(in[0], w)}; },
               {.autocast = float16}, "h");
  EXPECT_EQ(h({xv})[0].dtype(), float16);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, AutocastGraph, ::testing::Values(bfloat16, float16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

// Eval graphs without bit_exact: the casts go in after fold_batch_norm and fuse_epilogue, so
// batch norm is folded into float32 weights (rounded once, hoisted) and the fused
// convolutions run in low precision from one layer to the next, with no cast in between.
TEST(AutocastGraphPass, EvalGraphFoldsBatchNormBeforeCasting) {
  Generator gen(0);
  auto net = std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Conv2d>(3, 8, 3, nn::Conv2dOptions{.padding = 1}, false, gen),
      std::make_shared<nn::BatchNorm2d>(8), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Conv2d>(8, 8, 3, nn::Conv2dOptions{.padding = 1}, false, gen),
      std::make_shared<nn::BatchNorm2d>(8), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(8 * 6 * 6, 4, true, gen)});
  // Running statistics that are not the initial ones.
  {
    NoGradGuard ng;
    for (int i = 0; i < 3; ++i) (*net)(randn({4, 3, 6, 6}, 10 + i));
  }
  net->eval();
  Tensor xv = randn({2, 3, 6, 6}, 20), eager;
  {
    NoGradGuard ng;
    auto scope = autocast(bfloat16);
    eager = (*net)(xv);
  }
  Graph g;
  Tensor y = (*net)(g.input("x", {2, 3, 6, 6}));
  Executable exe = compile(g, {y}, {.autocast = bfloat16});
  const detail::GraphData& gd = *exe.impl()->graph;
  EXPECT_EQ(count_op(gd, "channel_affine"), 0) << gd.dump();  // folded
  EXPECT_EQ(count_op(gd, "conv2d_fused"), 2) << gd.dump();    // + relu
  for (const detail::Node& nd : gd.nodes) {
    if (!nd.is(OpId::conv2d_fused)) continue;
    EXPECT_EQ(nd.outputs[0].dtype, bfloat16) << gd.dump();
    for (const detail::ValueRef& r : nd.inputs) EXPECT_EQ(gd.meta(r).dtype, bfloat16) << gd.dump();
  }
  // Casts: the input, the two folded weights and biases, the linear's weight and bias; no
  // activation goes back to float32.
  EXPECT_EQ(count_casts(gd, bfloat16, float32), 0) << gd.dump();
  EXPECT_EQ(count_casts(gd, float32, bfloat16), 7) << gd.dump();
  Tensor got = exe.run({{"x", xv}})[0];
  EXPECT_EQ(got.dtype(), bfloat16);
  const double scale = max(abs(eager.to(float32)), {}, false).item();
  EXPECT_LE(max(abs(sub(got.to(float32), eager.to(float32))), {}, false).item(), 3e-2 * scale);
}

// A graph recorded inside the scope already reads cast(W): batch-norm folding uses the float32
// W and casts the folded weight once.
TEST(AutocastGraphPass, FoldBatchNormSeesThroughWeightCasts) {
  Generator gen(0);
  nn::Conv2d conv(3, 8, 3, {.padding = 1}, true, gen);
  nn::BatchNorm2d bn(8);
  {
    NoGradGuard ng;
    bn(conv(randn({4, 3, 5, 5}, 1)));  // running statistics that are not the initial ones
  }
  conv.eval();
  bn.eval();
  Tensor xv = randn({2, 3, 5, 5}, 2), eager;
  {
    NoGradGuard ng;
    auto scope = autocast(bfloat16);
    eager = relu(bn(conv(xv)));
  }
  Graph g;
  Tensor y;
  {
    auto scope = autocast(bfloat16);
    y = relu(bn(conv(g.input("x", {2, 3, 5, 5}))));
  }
  Executable exe = compile(g, {y}, {.autocast = bfloat16});
  const detail::GraphData& gd = *exe.impl()->graph;
  EXPECT_EQ(count_op(gd, "channel_affine"), 0) << gd.dump();
  EXPECT_EQ(count_op(gd, "conv2d_fused"), 1) << gd.dump();
  // x, the folded weight and the folded bias; W and b are no longer cast.
  EXPECT_EQ(count_casts(gd, float32, bfloat16), 3) << gd.dump();
  Tensor got = exe.run({{"x", xv}})[0];
  EXPECT_EQ(got.dtype(), bfloat16);
  const double scale = max(abs(eager.to(float32)), {}, false).item();
  EXPECT_LE(max(abs(sub(got.to(float32), eager.to(float32))), {}, false).item(), 3e-2 * scale);
}

// keep_intermediates skips every optimisation pass, not autocast (it changes what the graph
// computes): the debug executable gives eager autocast's values, readable node by node.
TEST(AutocastGraphPass, KeepIntermediatesStillCasts) {
  Tensor w = randn({4, 3}, 1), xv = randn({2, 3}, 2), eager;
  {
    auto scope = autocast(float16);
    eager = softmax(linear(xv, w), 1);
  }
  Graph g;
  Tensor y = softmax(linear(g.input("x", {2, 3}), w), 1);
  Executable exe = compile(g, {y}, {.keep_intermediates = true, .autocast = float16});
  Tensor got = exe.run({{"x", xv}})[0];
  EXPECT_EQ(got.dtype(), float32);
  EXPECT_EQ(got.to_vector<float>(), eager.to_vector<float>());
  EXPECT_EQ(count_casts(*exe.impl()->graph, float32, float16), 2);  // x and w
  EXPECT_EQ(count_casts(*exe.impl()->graph, float16, float32), 1);  // softmax's input
}
