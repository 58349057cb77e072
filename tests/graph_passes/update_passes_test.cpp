// fuse_updates and schedule_updates: one test each on a small MLP trained with Adam.
#include "duet/nn.h"
#include "duet/optim.h"
#include "pass_test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

std::shared_ptr<nn::Sequential> mlp(Generator& gen) {
  return std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(6, 5, true, gen), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::Linear>(5, 3, true, gen)});
}

using Named = std::vector<std::pair<std::string, Tensor>>;
Named snapshot(nn::Module& m) {
  Named r;
  for (auto& [n, t] : m.state_dict()) r.emplace_back(n, t.detach().clone());
  return r;
}

// Trains `steps` Adam steps with a compiled graph (given disabled passes); returns params.
Named train_graph(int64_t batch, const std::set<std::string>& disabled, int* fused_nodes,
                  int* ops_after_first_update) {
  Generator gen(11);
  auto net = mlp(gen);
  optim::Adam opt(net->parameters(), 0.01);
  Graph g({.training = true});
  Tensor x = g.input("x", {batch, 6});
  Tensor y = g.input("y", {batch}, int64);
  Tensor loss = cross_entropy((*net)(x), y);
  Executable exe =
      compile(g, {loss}, {.training = true, .optimizer = &opt, .disabled_passes = disabled});
  const auto& nodes = exe.impl()->graph->nodes;
  *fused_nodes = count_op(*exe.impl()->graph, "linear_grad_adam_step_");
  // How many ops run after the first optimizer update (0 when updates come last).
  *ops_after_first_update = 0;
  bool seen = false;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].mutates() && nodes[i].op->name.find("step_") != std::string::npos)
      seen = true;
    else if (seen && nodes[i].kind == detail::NodeKind::op)
      ++*ops_after_first_update;
  }
  Generator data(5);
  for (int s = 0; s < 4; ++s) {
    Tensor xs = Tensor::randn({batch, 6}, data);
    Tensor ys = Tensor::from_vector(std::vector<int64_t>(batch, s % 3), {batch});
    exe.run({{"x", xs}, {"y", ys}});
  }
  return snapshot(*net);
}

}  // namespace

TEST(FuseUpdates, LinearWeightGradientFusedWithAdam) {
  for (int64_t batch : {1, 3, 12, 40}) {  // small-batch loop, GEMM path, not fused
    int fused = 0, fused_off = 0, first = 0;
    Named a = train_graph(batch, {}, &fused, &first);
    Named b = train_graph(batch, {"fuse_updates"}, &fused_off, &first);
    EXPECT_EQ(fused, batch <= 16 ? 2 : 0) << "batch " << batch;
    EXPECT_EQ(fused_off, 0);
    for (size_t i = 0; i < a.size(); ++i) expect_close(a[i].second, b[i].second, 1e-5, 1e-7);
  }
}

TEST(FuseUpdates, GradientIsNeverMaterialised) {
  Generator gen(2);
  auto net = std::make_shared<nn::Linear>(512, 256, true, gen);
  optim::Adam opt(net->parameters(), 0.01);
  auto plan_bytes = [&](const std::set<std::string>& disabled) {
    Graph g({.training = true});
    Tensor x = g.input("x", {1, 512});
    Tensor y = (*net)(x);
    Tensor loss = sum(y * y);  // a gradient that depends on the data (not constant-folded)
    return compile(g, {loss}, {.training = true, .optimizer = &opt, .disabled_passes = disabled})
        .memory_report()
        .arena;
  };
  const int64_t fused = plan_bytes({}), unfused = plan_bytes({"fuse_updates"});
  EXPECT_LT(fused, unfused - 256 * 512 * 4 / 2) << "fused " << fused << " unfused " << unfused;
}

TEST(ScheduleUpdates, UpdatesRunRightAfterTheirGradients) {
  int fused = 0, ops_after_scheduled = 0, ops_after_unscheduled = 0;
  Named a = train_graph(4, {"fuse_updates"}, &fused, &ops_after_scheduled);
  Named b = train_graph(4, {"fuse_updates", "schedule_updates"}, &fused, &ops_after_unscheduled);
  // Unscheduled, the updates are the last nodes; scheduled, the last layer's update runs
  // before the backward pass reaches the first layer. Results are bit-identical (the same
  // ops on the same values).
  EXPECT_EQ(ops_after_unscheduled, 0);
  EXPECT_GT(ops_after_scheduled, 0);
  for (size_t i = 0; i < a.size(); ++i) expect_same(a[i].second, b[i].second);
}
