// The collective ops (all_reduce_start / all_reduce_wait) through the pass pipeline, and the
// schedule_collectives pass, on graphs compiled but never run: this process has no process
// group (running them is tests/distributed and tests/mpirun).
#include "distributed/graph_reduce.h"
#include "duet/distributed/ddp.h"
#include "duet/nn.h"
#include "duet/optim.h"
#include "graph/planner.h"
#include "ops/collective_ops.h"
#include "pass_test_util.h"

using namespace duet;
using namespace duet::test;
using distributed::GradientReducer;
using distributed::ReduceOp;
namespace dd = duet::distributed::detail;

namespace {

std::shared_ptr<nn::Sequential> mlp(Generator& gen) {
  std::vector<std::shared_ptr<nn::Module>> layers;
  const int64_t widths[] = {8, 16, 16, 16, 4};
  for (int k = 0; k < 4; ++k) {
    if (k > 0) layers.push_back(std::make_shared<nn::ReLU>());
    layers.push_back(std::make_shared<nn::Linear>(widths[k], widths[k + 1], true, gen));
  }
  return std::make_shared<nn::Sequential>(layers);
}

// Buckets of two parameters, in reverse registration order (as GradientReducer makes them):
// bucket 0 = the last layer's (weight, bias), reversed.
std::vector<GradientReducer::BucketInfo> pairs_reversed(const std::vector<Tensor>& params) {
  std::vector<GradientReducer::BucketInfo> buckets;
  for (int64_t i = static_cast<int64_t>(params.size()) - 1; i >= 0; i -= 2) {
    GradientReducer::BucketInfo b;
    for (int64_t j = i; j > i - 2 && j >= 0; --j) {
      b.params.push_back(j);
      b.numel += params[j].numel();
    }
    buckets.push_back(b);
  }
  return buckets;
}

struct Step {
  Executable exe;
  std::shared_ptr<nn::Sequential> net;
};

// A compiled SGD training step of the MLP with the graph all-reduce of 4 buckets.
Step reduce_step(const std::set<std::string>& disabled = {}) {
  Generator gen(3);
  Step s;
  s.net = mlp(gen);
  optim::SGD opt(s.net->parameters(), 0.1);
  Graph g({.training = true});
  Tensor x = g.input("x", {4, 8});
  Tensor y = g.input("y", {4}, int64);
  Tensor loss = cross_entropy((*s.net)(x), y);
  std::vector<Tensor> grads = gradients(loss, opt.params());
  grads = dd::all_reduce_gradients_graph(pairs_reversed(opt.params()), opt.params(), grads);
  opt.apply_gradients(grads);
  s.exe = compile(g, {loss}, {.training = true, .disabled_passes = disabled});
  return s;
}

bool is_compute(const detail::Node& n) {  // a node that runs a backward or forward kernel
  return n.kind == detail::NodeKind::op && !n.op->view && !n.mutates() &&
         !n.has(OpTrait::collective) && !n.is(OpId::concat) && !n.is(OpId::clone);
}

struct Positions {
  std::vector<int> starts, waits;      // by bucket
  std::vector<int> compute_after_loss;  // compute nodes after cross_entropy (backward)
  int first_update = -1;
};

Positions positions(const detail::GraphData& g) {
  Positions p;
  int loss = -1;
  for (int i = 0; i < static_cast<int>(g.nodes.size()); ++i) {
    const detail::Node& n = g.nodes[i];
    if (n.is(OpId::all_reduce_start) || n.is(OpId::all_reduce_wait)) {
      std::vector<int>& v = n.is(OpId::all_reduce_start) ? p.starts : p.waits;
      const auto b = static_cast<size_t>(n.attrs.i("bucket"));
      if (v.size() <= b) v.resize(b + 1, -1);
      v[b] = i;
    }
    if (n.is(OpId::cross_entropy)) loss = i;
    if (loss >= 0 && i > loss && is_compute(n)) p.compute_after_loss.push_back(i);
    if (p.first_update < 0 && n.has(OpTrait::optimizer_update)) p.first_update = i;
  }
  return p;
}

int count_after(const std::vector<int>& xs, int at) {
  int n = 0;
  for (int x : xs) n += x > at;
  return n;
}

}  // namespace

TEST(CollectiveOps, EagerWithoutProcessGroupIsAnError) {
  ASSERT_FALSE(distributed::is_initialized());
  Tensor t = Tensor::ones({3});
  EXPECT_DUET_ERROR(dd::all_reduce_start(t, ReduceOp::avg, dd::new_collective_tag()),
                    "all_reduce_start: distributed is not initialized",
                    "duet::distributed::init()");
  const int64_t tag = dd::new_collective_tag();
  EXPECT_DUET_ERROR(
      dd::all_reduce_wait(t, Tensor::zeros({1}, int64), ReduceOp::sum, tag),
      "all_reduce_wait: no all_reduce_start with tag " + std::to_string(tag), "(float32, 3 elements");
  EXPECT_EQ(dd::pending_collectives(), 0);
}

TEST(CollectiveOps, InferChecksAttrsAndToken) {
  Tensor t = Tensor::ones({3});
  EXPECT_DUET_ERROR(dd::all_reduce_start(Tensor::zeros({3}, int64), ReduceOp::avg, 1),
                    "all_reduce_start: op = avg on a int64 bucket", "use sum for integers");
  EXPECT_DUET_ERROR(dd::all_reduce_start(t, ReduceOp::sum, 0), "all_reduce_start: tag = 0");
  EXPECT_DUET_ERROR(dd::all_reduce_wait(t, Tensor::zeros({2}, int64), ReduceOp::sum, 1),
                    "all_reduce_wait: token has shape (2,) int64", "expected the int64 (1) token");
  EXPECT_DUET_ERROR(call_op(op_def(OpId::all_reduce_start), {t},
                            Attrs().set("op", std::string("mean")).set("tag", int64_t{1})),
                    "all_reduce_start: op = \"mean\"", "\"avg\"");
  Tensor p = Tensor::ones({3}).requires_grad_();
  EXPECT_DUET_ERROR(dd::all_reduce_start(p, ReduceOp::sum, 1), "all_reduce_start: input 0",
                    "written in place but requires grad");
}

TEST(CollectiveOps, NotDifferentiable) {
  Graph g({.training = true});
  Tensor x = g.input("x", {3});
  Tensor b = clone(x);
  Tensor token = dd::all_reduce_start(b, ReduceOp::avg, 7);
  Tensor r = dd::all_reduce_wait(b, token, ReduceOp::avg, 7);
  EXPECT_DUET_ERROR(gradients(sum(r * x), {x}), "all_reduce_wait: not differentiable");
}

TEST(CollectiveOps, PassesKeepEveryPairAndRunNone) {
  // Two pairs on the same bucket value, a bucket of constants (zeros), outputs unused: DCE
  // keeps both, CSE merges neither, constant folding runs neither (no process group here:
  // running one would throw), hoisting (eval graph) marks neither.
  Graph g;
  Tensor x = g.input("x", {5});
  Tensor zeros = clone(Tensor::zeros({4}));
  Tensor t1 = dd::all_reduce_start(zeros, ReduceOp::sum, 11);
  Tensor w1 = dd::all_reduce_wait(zeros, t1, ReduceOp::sum, 11);
  Tensor b = clone(x);
  Tensor t2 = dd::all_reduce_start(b, ReduceOp::avg, 12);
  Tensor t3 = dd::all_reduce_start(b, ReduceOp::avg, 13);
  Tensor w3 = dd::all_reduce_wait(b, t3, ReduceOp::avg, 13);
  Tensor w2 = dd::all_reduce_wait(b, t2, ReduceOp::avg, 12);
  Tensor y = relu(x);
  Executable exe = compile(g, {y});
  const detail::GraphData& gd = *exe.impl()->graph;
  EXPECT_EQ(count_op(gd, "all_reduce_start"), 3);
  EXPECT_EQ(count_op(gd, "all_reduce_wait"), 3);
  for (const detail::Node& n : gd.nodes) EXPECT_FALSE(n.hoisted) << n.label();
  expect_topological(gd);
  const std::string dump = exe.dump();
  EXPECT_NE(dump.find("all_reduce_start"), std::string::npos) << dump;
  EXPECT_NE(dump.find("tag=13"), std::string::npos) << dump;
  // Running needs a process group; the error names the op and the node.
  EXPECT_DUET_ERROR(exe.run({{"x", Tensor::ones({5})}}), "all_reduce_start",
                    "distributed is not initialized");
}

TEST(ScheduleCollectives, StartsEarlyWaitsLate) {
  Step s = reduce_step();
  const detail::GraphData& g = *s.exe.impl()->graph;
  expect_topological(g);
  ASSERT_TRUE(ran(s.exe, "schedule_collectives"));
  const Positions p = positions(g);
  ASSERT_EQ(p.starts.size(), 4u);
  ASSERT_EQ(p.waits.size(), 4u);
  const int backward = static_cast<int>(p.compute_after_loss.size());
  ASSERT_GT(backward, 10);
  // Bucket 0 (the last layer's gradients) starts before most of backward; each later bucket
  // after the earlier ones, each right after its last gradient.
  EXPECT_GT(count_after(p.compute_after_loss, p.starts[0]), backward * 2 / 3)
      << "backward nodes: " << backward << "\n" << g.dump();
  for (size_t b = 1; b < 4; ++b) EXPECT_LT(p.starts[b - 1], p.starts[b]);
  EXPECT_GT(count_after(p.compute_after_loss, p.starts[2]), 0);
  // Every wait after all of backward, in bucket order, before the first update.
  for (size_t b = 0; b < 4; ++b) {
    EXPECT_EQ(count_after(p.compute_after_loss, p.waits[b]), 0) << "bucket " << b;
    EXPECT_GT(p.waits[b], p.starts[3]);
    if (b > 0) {
      EXPECT_LT(p.waits[b - 1], p.waits[b]);
    }
  }
  EXPECT_LT(p.waits[0], p.first_update);
  // The bucket's buffer stays live (nothing else placed in it) from its concat to its wait,
  // and the wait writes the averaged values over it.
  for (size_t b = 0; b < 4; ++b) {
    const detail::Node& w = g.nodes[p.waits[b]];
    const detail::ValueRef bucket = w.inputs[0];
    EXPECT_TRUE(g.nodes[bucket.node].is(OpId::concat));
    const int32_t buf = s.exe.impl()->plan.value_buffer[bucket.node][bucket.output];
    ASSERT_GE(buf, 0);
    EXPECT_GE(s.exe.impl()->plan.buffers[buf].last, p.waits[b]);
    EXPECT_EQ(w.inplace_of, 0) << "bucket " << b;
    // No other node writes over the bucket's buffer (only its last reader could: the wait).
    for (int i = 0; i < static_cast<int>(g.nodes.size()); ++i) {
      const detail::Node& n = g.nodes[i];
      if (i == p.waits[b] || n.inplace_of < 0) continue;
      const detail::ValueRef src = n.inputs[n.inplace_of];
      EXPECT_NE(s.exe.impl()->plan.value_buffer[src.node][src.output], buf) << n.label();
    }
  }
  const std::string dump = s.exe.dump();
  EXPECT_NE(dump.find("all_reduce_wait"), std::string::npos);
  EXPECT_NE(dump.find("bucket=3"), std::string::npos);
}

TEST(ScheduleCollectives, WithoutThePassEveryStartComesAfterBackward) {
  Step s = reduce_step({"schedule_collectives"});
  const Positions p = positions(*s.exe.impl()->graph);
  ASSERT_EQ(p.starts.size(), 4u);
  for (size_t b = 0; b < 4; ++b)
    EXPECT_EQ(count_after(p.compute_after_loss, p.starts[b]), 0) << "bucket " << b;
}

TEST(ScheduleCollectives, GraphsWithoutCollectivesKeepTheirOrder) {
  Generator gen(3);
  auto net = mlp(gen);
  optim::SGD opt(net->parameters(), 0.1);
  auto order = [&](const std::set<std::string>& disabled) {
    Graph g({.training = true});
    Tensor x = g.input("x", {4, 8});
    Tensor y = g.input("y", {4}, int64);
    Tensor loss = cross_entropy((*net)(x), y);
    Executable exe = compile(g, {loss}, {.training = true, .optimizer = &opt,
                                         .disabled_passes = disabled});
    std::vector<std::string> labels;
    for (const detail::Node& n : exe.impl()->graph->nodes) labels.push_back(n.label());
    return labels;
  };
  EXPECT_EQ(order({}), order({"schedule_collectives"}));
}

TEST(GraphReduce, SingleParameterBucketsAndUndefinedGradients) {
  Generator gen(3);
  auto net = mlp(gen);
  std::vector<Tensor> params = net->parameters();
  Graph g({.training = true});
  Tensor x = g.input("x", {4, 8});
  Tensor loss = sum((*net)(x));
  std::vector<Tensor> grads = gradients(loss, params);
  grads[0] = Tensor();  // as if the first weight were unused
  std::vector<GradientReducer::BucketInfo> buckets;
  for (int64_t i = 0; i < static_cast<int64_t>(params.size()); ++i)
    buckets.push_back({{i}, params[i].numel(), float32});
  std::vector<Tensor> reduced = dd::all_reduce_gradients_graph(buckets, params, grads);
  ASSERT_EQ(reduced.size(), params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    ASSERT_TRUE(reduced[i].defined()) << i;
    EXPECT_EQ(reduced[i].shape(), params[i].shape());
  }
  Executable exe = compile(g, {loss, reduced[0], reduced[7]}, {.training = true});
  const detail::GraphData& gd = *exe.impl()->graph;
  EXPECT_EQ(count_op(gd, "all_reduce_start"), 8);
  EXPECT_EQ(count_op(gd, "clone"), 8);  // one fresh buffer per bucket
  expect_topological(gd);
  // Errors name the bucket and the parameter.
  std::vector<GradientReducer::BucketInfo> bad{{{0, 9}, 0, float32}};
  EXPECT_DUET_ERROR(dd::all_reduce_gradients_graph(bad, params, grads),
                    "all_reduce_gradients: bucket 0 names parameter 9");
  std::vector<GradientReducer::BucketInfo> f64{{{1}, 0, float64}};
  EXPECT_DUET_ERROR(dd::all_reduce_gradients_graph(f64, params, grads),
                    "bucket 0 is float64 but parameter 1 is float32");
}
