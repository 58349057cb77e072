// The graph-mode gradient all-reduce in one process: a world of one (MPI singleton), where
// averaging over the ranks is the identity, so a compiled training step with the all-reduce
// must give exactly the parameters of the same step without it. Also the collective ops run
// eagerly, in a compiled graph with the wait written over the bucket, and their run-time
// errors. init() changes the whole process, so each test runs in a child process (a re-run of
// this binary, as in process_group_test.cpp); a failed check prints and exits 1.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "distributed/graph_step.h"
#include "duet/distributed.h"
#include "graph/executable.h"
#include "ops/collective_ops.h"
#include "distributed_test_util.h"

namespace dist = duet::distributed;
namespace dd = duet::distributed::detail;
using namespace duet;

namespace {

using duet::test::require;
using duet::test::require_error;

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  for (size_t i = 0; i < x.size(); ++i)
    if (x[i] != y[i]) return false;
  return true;
}

void init_world_of_one() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "PMI_SIZE", "RANK",
                        "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"})
    unsetenv(v);
  dist::init();
  require(dist::world_size() == 1, "a world of one");
}

// Three steps with and without the all-reduce (buckets of at most `cap` elements); every
// parameter must have the same bits.
void step_with_reduce_equals_step_without(bool adam, int64_t cap) {
  auto a = test::graph_step_net(5), b = test::graph_step_net(5);
  std::unique_ptr<optim::Optimizer> oa, ob;
  if (adam) {
    oa = std::make_unique<optim::Adam>(a->parameters(), 0.01);
    ob = std::make_unique<optim::Adam>(b->parameters(), 0.01);
  } else {
    oa = std::make_unique<optim::SGD>(a->parameters(), 0.1, 0.9);
    ob = std::make_unique<optim::SGD>(b->parameters(), 0.1, 0.9);
  }
  const std::vector<Tensor> params = oa->params();
  const auto buckets = test::reverse_buckets(params, cap);
  require(buckets.size() >= 2 || cap > 1000, "several buckets");
  // Adam: bit_exact on both (without the all-reduce, the linear weight gradient would be fused
  // with its Adam update, which sums in another order).
  JitFunction with = test::graph_train_step(
      *a, *oa,
      [&](const std::vector<Tensor>& g) {
        return dd::all_reduce_gradients_graph(buckets, params, g);
      },
      adam);
  JitFunction without = test::graph_train_step(*b, *ob, nullptr, adam);
  for (int k = 0; k < 3; ++k) {
    auto [x, y] = test::graph_step_batch(k, 8);
    const Tensor la = with({x, y})[0].clone(), lb = without({x, y})[0].clone();
    require(same_bits(la, lb), "loss of step " + std::to_string(k));
    require(dd::pending_collectives() == 0, "every start waited for");
  }
  const auto pa = a->parameters(), pb = b->parameters();
  for (size_t i = 0; i < pa.size(); ++i)
    require(same_bits(pa[i], pb[i]), "parameter " + std::to_string(i));
  const std::string dump = with.last_executable().dump();
  require(dump.find("all_reduce_start") != std::string::npos, "the start in the dump");
  require(dump.find("all_reduce_wait") != std::string::npos, "the wait in the dump");
}

}  // namespace

TEST(GraphReduceWorldOfOne, SgdStepEqualsStepWithoutReduce) {
  IN_CHILD(init_world_of_one(); step_with_reduce_equals_step_without(false, 200));
}

TEST(GraphReduceWorldOfOne, AdamStepEqualsStepWithoutReduce) {
  IN_CHILD(init_world_of_one(); step_with_reduce_equals_step_without(true, 200);
           step_with_reduce_equals_step_without(true, 1 << 20));
}

TEST(GraphReduceWorldOfOne, EagerStartThenWait) {
  IN_CHILD({
    init_world_of_one();
    Tensor t = Tensor::from_vector({1.0, -2.0, 3.5}, {3});
    const int64_t tag = dd::new_collective_tag();
    Tensor token = dd::all_reduce_start(t, dist::ReduceOp::avg, tag);
    require(token.shape() == Shape{1} && token.dtype() == int64, "token int64 (1)");
    require(dd::pending_collectives() == 1, "one pending");
    Tensor r = dd::all_reduce_wait(t, token, dist::ReduceOp::avg, tag);
    require(same_bits(r, t), "avg over one rank is the identity");
    require(r.data_ptr() != t.data_ptr(), "eager: a new tensor");
    require(dd::pending_collectives() == 0, "none pending");
    // A second wait for the same tag has nothing to wait for.
    require_error([&] { dd::all_reduce_wait(t, token, dist::ReduceOp::avg, tag); },
                  "all_reduce_wait: no all_reduce_start with tag " + std::to_string(tag));
    // Integers sum.
    Tensor n = Tensor::from_vector(std::vector<int64_t>{4, 5}, {2});
    Tensor nt = dd::all_reduce_start(n, dist::ReduceOp::sum, tag + 1000);
    require(same_bits(dd::all_reduce_wait(n, nt, dist::ReduceOp::sum, tag + 1000), n), "sum");
  });
}

TEST(GraphReduceWorldOfOne, CompiledPairWritesOverTheBucket) {
  IN_CHILD({
    init_world_of_one();
    Graph g;
    Tensor x = g.input("x", {4});
    Tensor bucket = mul(x, 2.0);
    const int64_t tag = dd::new_collective_tag();
    Tensor token = dd::all_reduce_start(bucket, dist::ReduceOp::avg, tag);
    Tensor r = add(dd::all_reduce_wait(bucket, token, dist::ReduceOp::avg, tag), 1.0);
    Executable exe = compile(g, {r});
    int waits_in_place = 0;
    for (const auto& n : exe.impl()->graph->nodes)
      waits_in_place += n.is(OpId::all_reduce_wait) && n.inplace_of == 0;
    require(waits_in_place == 1, "the wait's output takes the bucket's buffer");
    for (int k = 0; k < 2; ++k) {
      Tensor out = exe.run({{"x", Tensor::from_vector({1.0, 2.0, 3.0, -4.0}, {4})}})[0];
      require(same_bits(out, Tensor::from_vector({3.0, 5.0, 7.0, -7.0}, {4})), "2x + 1");
    }
    require(dd::pending_collectives() == 0, "none pending");
  });
}
