// Graph-mode data parallelism on 2 ranks (mpirun -np 2): N steps of a compiled training step
// (jit, .training) whose gradients go through GradientReducer::all_reduce_gradients (per bucket
// an all_reduce_start / all_reduce_wait pair, scheduled to overlap backward) at per-rank batch B
// give the parameters of one process running the same compiled step on the concatenated batch
// 2B (every rank computes that reference itself), for SGD with momentum and Adam, float32 and
// float64, several buckets or one; graph DDP agrees with eager DDP (DistributedDataParallel).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "distributed/graph_step.h"
#include "duet/distributed.h"
#include "ops/collective_ops.h"

using namespace duet;
using distributed::DDPOptions;
using distributed::GradientReducer;

namespace {

constexpr int64_t kB = 4;  // per-rank batch
constexpr int kSteps = 4;

void ensure_init() {
  if (!distributed::is_initialized()) distributed::init({.timeout = std::chrono::seconds(60)});
}

// Rows [rank * kB, (rank + 1) * kB) of the 2B batch k.
std::pair<Tensor, Tensor> my_shard(int k, DType dt) {
  auto [x, y] = test::graph_step_batch(k, 2 * kB, dt);
  const int64_t r = distributed::rank();
  return {x.slice(0, r * kB, (r + 1) * kB).clone(),
          y.slice(0, r * kB, (r + 1) * kB).clone()};
}

// max |a - b| / max |b| over the elements.
double rel_diff(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  double d = 0, m = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    d = std::max(d, std::abs(x[i] - y[i]));
    m = std::max(m, std::abs(y[i]));
  }
  return m > 0 ? d / m : d;
}

std::unique_ptr<optim::Optimizer> make_opt(bool adam, const std::vector<Tensor>& params) {
  if (adam) return std::make_unique<optim::Adam>(params, 0.01);
  return std::make_unique<optim::SGD>(params, 0.1, 0.9);
}

struct Case {
  bool adam;
  DType dt;
  double bucket_cap_mb;  // small: one bucket per parameter or two; big: one bucket
};

void graph_ddp_equals_big_batch(const Case& c) {
  ensure_init();
  ASSERT_EQ(distributed::world_size(), 2);
  auto net = test::graph_step_net(5, c.dt), ref = test::graph_step_net(5, c.dt);
  auto opt = make_opt(c.adam, net->parameters()), ref_opt = make_opt(c.adam, ref->parameters());
  GradientReducer reducer(opt->params(), {.bucket_cap_mb = c.bucket_cap_mb});
  JitFunction step = test::graph_train_step(
      *net, *opt, [&](const std::vector<Tensor>& g) { return reducer.all_reduce_gradients(g); },
      false);
  JitFunction ref_step = test::graph_train_step(*ref, *ref_opt, nullptr, false);
  // The control: this rank's shard without the all-reduce ends elsewhere.
  auto alone = test::graph_step_net(5, c.dt);
  auto alone_opt = make_opt(c.adam, alone->parameters());
  JitFunction alone_step = test::graph_train_step(*alone, *alone_opt, nullptr, false);
  for (int k = 0; k < kSteps; ++k) {
    auto [x, y] = my_shard(k, c.dt);
    step({x, y});
    alone_step({x, y});
    auto [bx, by] = test::graph_step_batch(k, 2 * kB, c.dt);
    ref_step({bx, by});
    EXPECT_EQ(distributed::detail::pending_collectives(), 0);
  }
  // The compiled step holds one start/wait pair per bucket.
  const std::string dump = step.last_executable().dump();
  size_t starts = 0;
  for (size_t at = dump.find("all_reduce_start("); at != std::string::npos;
       at = dump.find("all_reduce_start(", at + 1))
    ++starts;
  EXPECT_EQ(starts, reducer.buckets().size());
  const double tol = c.dt == float64 ? 1e-12 : 1e-6;
  const auto p = net->parameters(), q = ref->parameters(), a = alone->parameters();
  double worst = 0, control = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    EXPECT_LE(rel_diff(p[i], q[i]), tol) << "parameter " << i << " on rank " << distributed::rank();
    worst = std::max(worst, rel_diff(p[i], q[i]));
    control = std::max(control, rel_diff(a[i], q[i]));
  }
  EXPECT_GT(control, 1e-3);
  if (distributed::rank() == 0)
    std::printf("graph DDP vs 1 process on 2B: max relative difference %.3g (without the "
                "all-reduce: %.3g)\n", worst, control);
}

}  // namespace

TEST(DdpGraph, SgdSeveralBucketsEqualsBigBatch) {
  graph_ddp_equals_big_batch({.adam = false, .dt = float32, .bucket_cap_mb = 0.001});
}
TEST(DdpGraph, AdamSeveralBucketsEqualsBigBatch) {
  graph_ddp_equals_big_batch({.adam = true, .dt = float32, .bucket_cap_mb = 0.001});
}
TEST(DdpGraph, AdamOneBucketFloat64EqualsBigBatch) {
  graph_ddp_equals_big_batch({.adam = true, .dt = float64, .bucket_cap_mb = 25});
}
TEST(DdpGraph, SgdFloat64EqualsBigBatch) {
  graph_ddp_equals_big_batch({.adam = false, .dt = float64, .bucket_cap_mb = 0.001});
}

// The same steps through eager DistributedDataParallel (hooks, buckets reduced during
// backward) and through the compiled step: the same parameters.
TEST(DdpGraph, GraphAgreesWithEagerDdp) {
  ensure_init();
  for (bool adam : {false, true}) {
    SCOPED_TRACE(adam ? "adam" : "sgd");
    auto gnet = test::graph_step_net(9), enet = test::graph_step_net(9);
    auto gopt = make_opt(adam, gnet->parameters()), eopt = make_opt(adam, enet->parameters());
    const DDPOptions o{.bucket_cap_mb = 0.001};
    GradientReducer reducer(gopt->params(), o);
    JitFunction step = test::graph_train_step(
        *gnet, *gopt, [&](const std::vector<Tensor>& g) { return reducer.all_reduce_gradients(g); },
        false);
    auto ddp = std::make_shared<distributed::DistributedDataParallel>(enet, o);
    for (int k = 0; k < kSteps; ++k) {
      auto [x, y] = my_shard(k, float32);
      step({x, y});
      eopt->zero_grad();
      cross_entropy((*ddp)(x), y).backward();
      eopt->step();
    }
    const auto p = gnet->parameters(), q = enet->parameters();
    double worst = 0;
    for (size_t i = 0; i < p.size(); ++i) {
      EXPECT_LE(rel_diff(p[i], q[i]), 1e-6) << "parameter " << i;
      worst = std::max(worst, rel_diff(p[i], q[i]));
    }
    if (distributed::rank() == 0)
      std::printf("graph DDP vs eager DDP (%s): max relative difference %.3g\n",
                  adam ? "adam" : "sgd", worst);
  }
}
