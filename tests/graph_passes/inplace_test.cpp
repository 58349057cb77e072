// The "inplace" pass: marks nodes whose output 0 is written over an input that dies there
// (Node::inplace_of); the planner gives exactly those outputs their input's buffer.
#include "duet/models.h"
#include "pass_test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

// Every mark is what the plan did, and the other way round.
void expect_plan_follows_marks(const Executable& exe) {
  const detail::GraphData& g = *exe.impl()->graph;
  const detail::MemoryPlan& plan = exe.impl()->plan;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const detail::Node& n = g.nodes[i];
    EXPECT_EQ(plan.inplace[i], n.inplace_of >= 0) << "node %" << i;
    if (n.inplace_of < 0) continue;
    const detail::ValueRef src = n.inputs[n.inplace_of];
    EXPECT_EQ(plan.value_buffer[i][0], plan.value_buffer[src.node][src.output]) << "node %" << i;
  }
}

}  // namespace

TEST(InplacePass, MarksAnOpOverAnInputThatDiesThere) {
  Graph g;
  Tensor x = g.input("x", {8, 8});
  Tensor e = exp(x);
  Tensor r = relu(e);  // e is read nowhere else: r overwrites it
  Tensor a = add(r, e * 0.0 + 1.0);
  Tensor y = sum(a);
  run_pass(g, {y}, detail::mark_inplace);
  const auto& nodes = g.data()->nodes;
  EXPECT_EQ(nodes[node_of(e)].inplace_of, -1);  // over the graph input: never
  EXPECT_EQ(nodes[node_of(r)].inplace_of, -1);  // e is still read by e * 0.0 after relu
  EXPECT_EQ(nodes[node_of(a)].inplace_of, 0);   // over r, which dies at the add
  EXPECT_EQ(nodes[node_of(y)].inplace_of, -1);  // sum is not an in-place op
}

TEST(InplacePass, NeverOverARequestedOutputOrIntoOne) {
  Graph g;
  Tensor x = g.input("x", {16});
  Tensor e = exp(x);
  Tensor r = relu(e);
  Tensor s = sigmoid(exp(x) * 2.0);
  run_pass(g, {e, sum(r), s}, detail::mark_inplace);
  const auto& nodes = g.data()->nodes;
  EXPECT_EQ(nodes[node_of(r)].inplace_of, -1);  // e is requested: its buffer is never shared
  EXPECT_EQ(nodes[node_of(s)].inplace_of, -1);  // s is requested: a buffer of its own
}

// The in-place rule's conditions (tests/graph/planner_test.cpp checks the plan): a view at an
// offset or a second view of the same buffer gets no mark.
TEST(InplacePass, SameElementsAtTheSamePlacesOnly) {
  struct Case {
    const char* name;
    std::function<Tensor(const Tensor&)> f;
    bool marked;
  };
  const Case cases[] = {
      {"shifted", [](const Tensor& in) { return relu(exp(in).reshape({1200}).slice(0, 1, 1200)); },
       false},
      {"broadcast",
       [](const Tensor& in) {
         Tensor e = exp(in);
         return add(e, e.slice(0, 0, 1));
       },
       false},
      {"same view",
       [](const Tensor& in) {
         Tensor e = exp(in);
         return mul(e, e);
       },
       true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Graph g;
    Tensor y = c.f(g.input("x", {40, 30}));
    run_pass(g, {sum(y)}, detail::mark_inplace);
    EXPECT_EQ(g.data()->nodes[node_of(y)].inplace_of >= 0, c.marked);
  }
}

TEST(InplacePass, PlanFollowsTheMarksInEvalAndTraining) {
  Generator gen(8);
  auto net = models::fashion_cnn(gen);
  for (bool training : {false, true}) {
    SCOPED_TRACE(training ? "training" : "eval");
    training ? net->train() : net->eval();
    Graph g({.training = training});
    // (2, 10) logits; the eval graph fuses every activation into its conv/linear, so the
    // elementwise tail gives it something to write in place.
    Tensor y = sum(sigmoid((*net)(g.input("x", {2, 1, 28, 28})) * 2.0));
    std::vector<Tensor> outs{y};
    if (training)
      for (const Tensor& gr : gradients(y, net->parameters())) outs.push_back(gr);
    Executable exe = compile(g, outs, {.training = training});
    EXPECT_TRUE(ran(exe, "inplace"));
    int marked = 0;
    for (const detail::Node& n : exe.impl()->graph->nodes) marked += n.inplace_of >= 0;
    EXPECT_GT(marked, 0);
    expect_plan_follows_marks(exe);
  }
}

TEST(InplacePass, DisabledByNameAndByKeepIntermediates) {
  Generator gen(9);
  Tensor xv = Tensor::randn({64, 64}, gen);
  for (int mode = 0; mode < 3; ++mode) {
    Graph g;
    Tensor x = g.input("x", {64, 64});
    Tensor y = sum(relu(add(exp(x), x)));
    CompileOptions opts;
    if (mode == 1) opts.disabled_passes = {"inplace"};
    if (mode == 2) opts.keep_intermediates = true;
    Executable exe = compile(g, {y}, opts);
    EXPECT_EQ(ran(exe, "inplace"), mode == 0);
    int marked = 0;
    for (const detail::Node& n : exe.impl()->graph->nodes) marked += n.inplace_of >= 0;
    EXPECT_EQ(marked > 0, mode == 0);
    expect_plan_follows_marks(exe);
    expect_close(exe.run({{"x", xv}})[0], sum(relu(add(exp(xv), xv))), 1e-5, 1e-3);
  }
}

TEST(InplacePass, DumpShowsTheMarks) {
  Graph g;
  Tensor x = g.input("x", {64, 64});
  Tensor y = sum(relu(add(exp(x), x)));
  testing::internal::CaptureStderr();
  Executable exe = compile(g, {y}, {.dump_passes = true});
  const std::string err = testing::internal::GetCapturedStderr();
  const PassDumps d = dumps_around(err, "inplace");
  ASSERT_TRUE(d.found) << err;
  EXPECT_EQ(d.before.find("[inplace over %"), std::string::npos);
  // add_relu(exp(x), x) writes over exp(x): "%2 = add_relu(%1, %0) [inplace over %1]"
  EXPECT_NE(d.after.find("add_relu(%1, %0) [inplace over %1]"), std::string::npos) << d.after;
  EXPECT_NE(exe.dump().find("[inplace over %1]"), std::string::npos);
  EXPECT_NE(exe.to_dot().find("[inplace over %1]"), std::string::npos);
}
