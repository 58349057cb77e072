// The pass pipeline and the shared pass helpers.
#include "pass_test_util.h"

using namespace duet;
using namespace duet::test;

TEST(Pipeline, OrderAndFlags) {
  const auto& p = detail::pass_pipeline();
  std::vector<std::string> names;
  for (const detail::Pass& pass : p) names.push_back(pass.name);
  EXPECT_EQ(names, (std::vector<std::string>{"autocast", "dce", "cse", "cancel_casts",
                                             "constant_folding", "fold_batch_norm",
                                             "commute_relu_pool", "fuse_epilogue", "autocast",
                                             "nchwc_layout",
                                             "fuse_updates", "dce", "schedule_updates",
                                             "schedule_collectives", "hoist", "inplace"}));
  for (const detail::Pass& pass : p) {
    const std::string name = pass.name;
    if (name == "autocast") {  // before autodiff, or late in eval graphs (reorders rounding)
      EXPECT_NE(pass.before_autodiff, pass.eval_only);
      EXPECT_EQ(pass.eval_only, pass.reorders_math);
      continue;
    }
    const bool eval_reorders = name == "fold_batch_norm" || name == "nchwc_layout";
    EXPECT_EQ(pass.eval_only, eval_reorders || name == "hoist") << name;
    EXPECT_EQ(pass.reorders_math, eval_reorders || name == "fuse_updates") << name;
    EXPECT_FALSE(pass.before_autodiff) << name;
  }
}

TEST(Pipeline, DisabledPassesAreSkipped) {
  Graph g;
  Tensor x = g.input("x", {4});
  Tensor y = relu(add(exp(x), exp(x)));
  Executable exe = compile(g, {y}, {.disabled_passes = {"cse", "fuse_epilogue"}});
  for (const PassStat& s : exe.pass_stats()) {
    EXPECT_NE(s.name, "cse");
    EXPECT_NE(s.name, "fuse_epilogue");
  }
  EXPECT_EQ(count_op(*exe.impl()->graph, "exp"), 2);
  EXPECT_EQ(count_op(*exe.impl()->graph, "relu"), 1);
}

TEST(PassUtils, ReorderMovesNewNodesBeforeTheirFirstUser) {
  Graph g;
  Tensor x = g.input("x", {3});
  Tensor a = exp(x);
  Tensor b = mul(a, 2.0);
  Tensor y = add(b, a);
  g.end_build();
  detail::GraphData& gd = *g.data();
  std::vector<detail::ValueRef> outs{detail::graph_value(y)->ref};
  detail::PassContext ctx{gd, outs, {}};
  const size_t first_new = gd.nodes.size();
  const detail::ValueRef bref = detail::graph_value(b)->ref;
  detail::ValueRef repl;
  // Replace b = a * 2 by (a + a) computed by two new nodes, appended at the end.
  detail::emit_into(gd, {}, [&] {
    Tensor s =
        add(gd.symbolic(detail::graph_value(a)->ref), gd.symbolic(detail::graph_value(a)->ref));
    repl = detail::graph_value(mul(s, 1.0))->ref;
  });
  EXPECT_FALSE(g.building());  // emit_into restores the build state
  ASSERT_EQ(gd.nodes.size(), first_new + 2);
  detail::replace_value(ctx, bref, repl);
  gd.nodes[bref.node].dead = true;
  detail::reorder_topologically(ctx, first_new);
  std::vector<detail::ValueRef*> keep{&outs[0]};
  gd.compact(keep);
  expect_topological(gd);
  // input, exp, add (new), mul (new), add (y): the output stays last.
  std::vector<std::string> labels;
  for (const detail::Node& n : gd.nodes) labels.push_back(n.label());
  EXPECT_EQ(labels, (std::vector<std::string>{"input x", "exp", "add", "mul_scalar", "add"}));
  EXPECT_EQ(outs[0].node, 4);
}

TEST(PassUtils, MutationAnalysisFollowsViews) {
  Tensor buf = Tensor::zeros({2, 3});
  Graph g;
  Tensor x = g.input("x", {6});
  Tensor v = reshape(buf, {6});
  {
    NoGradGuard ng;
    running_stat_update_(v, x, 0.5);  // writes buf through a view
  }
  Tensor other = mul(x, 2.0);
  g.end_build();
  const detail::GraphData& gd = *g.data();
  detail::MutationInfo mi = detail::analyze_mutations(gd);
  const int32_t buf_node = gd.capture_of.at(buf.impl());
  EXPECT_TRUE(mi.written[buf_node][0]);
  EXPECT_TRUE(mi.written[detail::graph_value(v)->ref.node][0]);
  EXPECT_FALSE(mi.written[detail::graph_value(other)->ref.node][0]);
  EXPECT_FALSE(mi.written[0][0]);  // the input x is only read
  EXPECT_EQ(mi.mutations_before.back(), 1);
}
