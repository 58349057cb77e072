// The "hoist" pass: marks eval-graph nodes computed from captures only (Node::hoisted); the
// executor computes them once, outside the arena (tests/graph_passes/derived_constants_test.cpp
// checks the values and their refresh).
#include "duet/nn.h"
#include "pass_test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

int count_hoisted(const detail::GraphData& g) {
  int n = 0;
  for (const detail::Node& nd : g.nodes) n += nd.hoisted;
  return n;
}

}  // namespace

TEST(HoistPass, MarksValuesComputedFromCapturesOnly) {
  Generator gen(1);
  Tensor w = Tensor::randn({4, 3}, gen);
  Tensor s = Tensor::randn({4}, gen);
  Graph g;
  Tensor x = g.input("x", {2, 3});
  Tensor wt = permute(w, {1, 0});
  Tensor s2 = reshape(s, {1, 4});
  Tensor m = mul(wt, s2);          // (3, 4): from captures only
  Tensor y = matmul(x, m);         // reads the input
  Tensor z = add(y, sum(exp(m)));  // sum(exp(m)): hoisted too; the add is not
  run_pass(g, {z}, detail::hoist_constants);
  const auto& nodes = g.data()->nodes;
  EXPECT_TRUE(nodes[node_of(wt)].hoisted);  // views of captures count (they run no step)
  EXPECT_TRUE(nodes[node_of(s2)].hoisted);
  EXPECT_TRUE(nodes[node_of(m)].hoisted);
  EXPECT_FALSE(nodes[node_of(y)].hoisted);
  EXPECT_FALSE(nodes[node_of(z)].hoisted);
  EXPECT_FALSE(nodes[node_of(x)].hoisted);
  EXPECT_EQ(count_hoisted(*g.data()), 5);  // wt, s2, m, exp(m), sum(exp(m))
}

TEST(HoistPass, NotRandomNotWrittenNotWriting) {
  Generator gen(2);
  Tensor w = Tensor::randn({4}, gen);
  Tensor buf = Tensor::zeros({4});
  Graph g;
  Tensor x = g.input("x", {4});
  Tensor d = dropout(w, 0.5, true);  // random: drawn each run
  Tensor dd = mul(d, 2.0);           // reads a random value
  Tensor b2 = mul(buf, 2.0);         // reads what the graph writes in place
  {
    NoGradGuard ng;
    running_stat_update_(buf, x, 0.5);
  }
  Tensor w2 = mul(w, 3.0);  // the one hoisted value
  Tensor y = add(add(add(dd, b2), w2), x);
  run_pass(g, {y}, detail::hoist_constants);
  const auto& nodes = g.data()->nodes;
  EXPECT_FALSE(nodes[node_of(d)].hoisted);
  EXPECT_FALSE(nodes[node_of(dd)].hoisted);
  EXPECT_FALSE(nodes[node_of(b2)].hoisted);
  EXPECT_TRUE(nodes[node_of(w2)].hoisted);
  EXPECT_EQ(count_hoisted(*g.data()), 1);
}

TEST(HoistPass, EvalGraphsOnlyAndDisabledByName) {
  Generator gen(3);
  auto conv = std::make_shared<nn::Conv2d>(3, 4, 3, Conv2dOptions{.padding = {1, 1}}, false, gen);
  auto bn = std::make_shared<nn::BatchNorm2d>(4);
  for (int mode = 0; mode < 3; ++mode) {
    SCOPED_TRACE(mode);
    const bool training = mode == 2;
    conv->train(training);
    bn->train(training);
    Graph g({.training = training});
    Tensor y = sum(relu((*bn)((*conv)(g.input("x", {2, 3, 5, 5})))));
    CompileOptions opts{.training = training};
    if (mode == 1) opts.disabled_passes = {"hoist"};
    Executable exe = compile(g, {y}, opts);
    EXPECT_EQ(ran(exe, "hoist"), mode == 0);
    EXPECT_EQ(count_hoisted(*exe.impl()->graph) > 0, mode == 0);
    // The executor's prologue is exactly the hoisted nodes that run a step.
    size_t hoisted_steps = 0;
    for (size_t i = 0; i < exe.impl()->graph->nodes.size(); ++i)
      hoisted_steps += exe.impl()->graph->nodes[i].hoisted && !exe.impl()->plan.alias[i];
    EXPECT_EQ(exe.impl()->prologue.size(), hoisted_steps);
    EXPECT_EQ(exe.memory_report().derived > 0, mode == 0);
    for (const detail::ExecStep& st : exe.impl()->steps)
      EXPECT_FALSE(exe.impl()->graph->nodes[st.node].hoisted);
  }
}

TEST(HoistPass, DumpShowsTheMarks) {
  Generator gen(4);
  auto conv = std::make_shared<nn::Conv2d>(3, 4, 3, Conv2dOptions{.padding = {1, 1}}, false, gen);
  auto bn = std::make_shared<nn::BatchNorm2d>(4);
  conv->eval();
  bn->eval();
  Graph g;
  Tensor y = relu((*bn)((*conv)(g.input("x", {1, 3, 4, 4}))));
  testing::internal::CaptureStderr();
  Executable exe = compile(g, {y}, {.dump_passes = true});
  const std::string err = testing::internal::GetCapturedStderr();
  const PassDumps d = dumps_around(err, "hoist");
  ASSERT_TRUE(d.found) << err;
  EXPECT_EQ(d.before.find("[hoisted]"), std::string::npos);
  EXPECT_NE(d.after.find("[hoisted]"), std::string::npos);
  EXPECT_NE(exe.dump().find("[hoisted]"), std::string::npos);
  EXPECT_NE(exe.to_dot().find("[hoisted]"), std::string::npos);
}
