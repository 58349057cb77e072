// Train vs eval in graph mode comes from GraphOptions::training, never from the module's own
// train()/eval() flag (Module::is_training() returns tracing_training() while tracing).
#include "duet/equivalence.h"
#include "duet/graph.h"
#include "duet/nn.h"
#include "duet/ops.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

bool has(const std::string& dump, const std::string& what) {
  return dump.find(what) != std::string::npos;
}

// A BN module with non-trivial running statistics.
std::shared_ptr<nn::BatchNorm2d> make_bn() {
  auto bn = std::make_shared<nn::BatchNorm2d>(3);
  NoGradGuard no_grad;
  bn->running_mean.copy_(Tensor::from_vector({0.5, -0.5, 1.0}, {3}));
  bn->running_var.copy_(Tensor::from_vector({2.0, 0.5, 1.5}, {3}));
  bn->weight.copy_(Tensor::from_vector({1.5, 0.5, -1.0}, {3}));
  return bn;
}

}  // namespace

TEST(ModuleMode, EvalGraphOfATrainModeModuleUsesInference) {
  auto bn = make_bn();
  bn->train();
  Generator gen(1);
  Tensor x = Tensor::randn({4, 3, 2, 2}, gen);
  Graph g({.training = false});
  Tensor xs = g.input("x", {4, 3, 2, 2});
  EXPECT_TRUE(is_tracing());
  EXPECT_FALSE(bn->is_training());   // the graph's mode
  EXPECT_TRUE(bn->training_flag());  // the module's own flag is untouched
  Tensor ys = (*bn)(xs);
  const std::string dump = g.dump();
  EXPECT_FALSE(has(dump, "running_stat_update_")) << dump;
  EXPECT_FALSE(has(dump, "batch_norm_train")) << dump;
  EXPECT_FALSE(has(dump, "increment_")) << dump;
  Executable exe = compile(g, {ys});
  EXPECT_FALSE(is_tracing());
  EXPECT_TRUE(bn->is_training());  // back to the module's flag
  Tensor out = exe.run({{"x", x}})[0];
  // Eager inference gives the same values; the buffers were not touched by the graph.
  EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), 0);
  bn->eval();
  expect_close(out, (*bn)(x), 1e-6, 1e-6);
}

TEST(ModuleMode, TrainingGraphOfAnEvalModeModuleUpdatesRunningStats) {
  auto bn = make_bn();
  auto ref = make_bn();
  bn->eval();
  ref->train();
  Generator gen(2);
  Graph g({.training = true});
  Tensor xs = g.input("x", {4, 3, 2, 2});
  EXPECT_TRUE(bn->is_training());
  Tensor ys = (*bn)(xs);
  const std::string dump = g.dump();
  EXPECT_TRUE(has(dump, "batch_norm_train")) << dump;
  EXPECT_TRUE(has(dump, "running_stat_update_")) << dump;
  EXPECT_TRUE(has(dump, "increment_")) << dump;
  Executable exe = compile(g, {ys}, {.training = true});
  EXPECT_FALSE(bn->training_flag());
  for (int step = 1; step <= 2; ++step) {
    Tensor x = Tensor::randn({4, 3, 2, 2}, gen);
    Tensor out = exe.run({{"x", x}})[0];
    expect_close(out, (*ref)(x), 1e-5, 1e-5);  // batch statistics, like eager training
    // num_batches_tracked counts runs (no host value frozen at build time).
    EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), step);
    expect_close(bn->running_mean, ref->running_mean, 1e-6, 1e-6);
    expect_close(bn->running_var, ref->running_var, 1e-6, 1e-6);
  }
}

TEST(ModuleMode, DropoutFollowsTheGraphMode) {
  nn::Dropout drop(0.5);
  drop.train();
  {
    Graph g({.training = false});
    Tensor y = drop(g.input("x", {8}));
    EXPECT_FALSE(has(g.dump(), "dropout")) << g.dump();
  }
  drop.eval();
  {
    Graph g({.training = true});
    Tensor y = drop(g.input("x", {8}));
    EXPECT_TRUE(has(g.dump(), "dropout")) << g.dump();
  }
}

TEST(ModuleMode, CumulativeMomentumIsRejectedInGraphMode) {
  // momentum = None needs 1 / num_batches_tracked, a host value: not frozen silently.
  nn::BatchNorm2d bn(3, 1e-5, std::nullopt);
  Graph g({.training = true});
  Tensor xs = g.input("x", {2, 3, 2, 2});
  EXPECT_DUET_ERROR(bn(xs), "BatchNorm2d", "momentum = None", "graph mode");
  g.end_build();
  // Eager training still supports it.
  Generator gen(3);
  bn(Tensor::randn({2, 3, 2, 2}, gen));
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 1);
}

TEST(ModuleMode, DropoutRunsDrawTheSameSeedsAsEagerSteps) {
  // Recording a dropout node draws no seed; each run draws one, as each eager call does.
  nn::Dropout drop(0.5);
  Tensor x = Tensor::ones({64});
  manual_seed(9);
  std::vector<Tensor> eager;
  for (int k = 0; k < 3; ++k) eager.push_back(drop(x));
  manual_seed(9);
  Graph g({.training = true});
  Tensor y = drop(g.input("x", {64}));
  Executable exe = compile(g, {y}, {.training = true});
  for (int k = 0; k < 3; ++k) expect_close(exe.run({{"x", x}})[0], eager[k], 0, 0);
  EXPECT_GT(relative_difference(eager[0], eager[1]), 0.0);  // the masks do change per step
}
