// The NCCL engine with one rank (label cuda; skipped without a GPU, or when libduet_nccl.so or
// a bootstrap plugin, Gloo or MPI, is not built): the collectives on CUDA tensors, CPU
// tensors going to the bootstrap engine, and graph mode's all_reduce_start / all_reduce_wait
// on CUDA, run kernel by kernel and then captured into a CUDA Graph and replayed, alone and
// as a whole compiled training step.
// Never run by the session that wrote it (no GPU there): scripts/gpu_check.sh runs it.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "cuda_test_util.h"
#include "distributed/graph_step.h"
#include "duet/distributed.h"
#include "duet/graph.h"
#include "duet/jit.h"
#include "ops/collective_ops.h"
#include "distributed_test_util.h"

namespace duet {
namespace {

namespace dist = duet::distributed;

bool built(const char* lib) {
  return std::filesystem::exists(std::string(DUET_BINARY_DIR) + "/" + lib);
}

using duet::test::free_port;

// A one-rank NCCL group for the test's lifetime, bootstrapped over Gloo (the environment of
// a one-process torchrun) when its plugin is built, else over MPI (a singleton).
class NcclOneRank : public ::testing::Test {
 protected:
  void SetUp() override {
    DUET_REQUIRE_CUDA();
    if (!built("libduet_nccl.so")) GTEST_SKIP() << "libduet_nccl.so is not built";
    if (built("libduet_gloo.so")) {
      setenv("RANK", "0", 1);
      setenv("WORLD_SIZE", "1", 1);
      setenv("LOCAL_RANK", "0", 1);
      setenv("MASTER_ADDR", "127.0.0.1", 1);
      setenv("MASTER_PORT", std::to_string(free_port()).c_str(), 1);
    } else if (!built("libduet_mpi.so")) {
      GTEST_SKIP() << "no bootstrap engine for NCCL: neither libduet_gloo.so nor libduet_mpi.so "
                      "is built";
    } else if (groups_started_ > 0) {
      GTEST_SKIP() << "MPI (the bootstrap here) starts once per process: run this test alone";
    }
    ++groups_started_;
    dist::init(
        dist::InitOptions{.backend = dist::Backend::nccl, .timeout = std::chrono::seconds(60)});
  }
  void TearDown() override {
    if (dist::is_initialized()) dist::shutdown();
    unsetenv("DUET_NCCL_COMM_STREAM");
  }
  static inline int groups_started_ = 0;
};

// A group whose NCCL engine reads $DUET_NCCL_COMM_STREAM=0: graph mode's all-reduce on the
// compute stream.
class NcclOneRankComputeStream : public NcclOneRank {
 protected:
  void SetUp() override {
    setenv("DUET_NCCL_COMM_STREAM", "0", 1);
    NcclOneRank::SetUp();
  }
};

Tensor cuda_of(const std::vector<float>& v) {
  return Tensor::from_vector<float>(v, {static_cast<int64_t>(v.size())}).to(cuda);
}
std::vector<float> host(const Tensor& t) {
  return t.to(cpu).contiguous().to_vector<float>();
}

TEST_F(NcclOneRank, CollectivesOnCudaTensors) {
  EXPECT_EQ(dist::backend(), dist::Backend::nccl);
  EXPECT_EQ(dist::world_size(), 1);
  Tensor t = cuda_of({1.5f, -2, 3});
  dist::all_reduce(t);
  EXPECT_EQ(host(t), (std::vector<float>{1.5f, -2, 3}));
  dist::all_reduce(t, dist::ReduceOp::avg);
  EXPECT_EQ(host(t), (std::vector<float>{1.5f, -2, 3}));
  dist::all_reduce(t, dist::ReduceOp::max);
  EXPECT_EQ(t.device(), cuda);
  Tensor i = Tensor::from_vector<int64_t>({int64_t{1} << 60, -7}, {2}).to(cuda);
  dist::all_reduce(i);
  EXPECT_EQ(i.to(cpu).to_vector<int64_t>(), (std::vector<int64_t>{int64_t{1} << 60, -7}));
  dist::broadcast(t, 0);
  EXPECT_EQ(host(t), (std::vector<float>{1.5f, -2, 3}));
  Tensor all = dist::all_gather(Tensor::from_vector<float>({4, 5, 6, 7}, {2, 2}).to(cuda));
  EXPECT_EQ(all.shape(), (Shape{2, 2}));
  EXPECT_EQ(all.device(), cuda);
  EXPECT_EQ(host(all), (std::vector<float>{4, 5, 6, 7}));
  Tensor rs = dist::reduce_scatter(cuda_of({8, 9}));
  EXPECT_EQ(host(rs), (std::vector<float>{8, 9}));
  dist::barrier();
}

// The differentiable all-reduce (SyncBatchNorm2d's statistics) on CUDA: one rank sums to the
// input itself, and the gradient is the output's gradient.
TEST_F(NcclOneRank, AllReduceSumAutogradOnCuda) {
  Tensor x = cuda_of({1, -2, 4}).requires_grad_();
  Tensor y = dist::all_reduce_sum_autograd(x);
  EXPECT_EQ(y.device(), cuda);
  EXPECT_EQ(host(y), (std::vector<float>{1, -2, 4}));
  sum(mul(y, cuda_of({3, 5, 7}))).backward();
  EXPECT_EQ(host(x.grad()), (std::vector<float>{3, 5, 7}));
}

TEST_F(NcclOneRank, CpuTensorsGoToTheBootstrapEngine) {
  Tensor t = Tensor::from_vector<float>({2, 4}, {2});
  dist::all_reduce(t, dist::ReduceOp::avg);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{2, 4}));
  EXPECT_EQ(t.device(), cpu);
}

// all_reduce_start / all_reduce_wait on CUDA in a compiled graph: run 1 kernel by kernel,
// run 2 captured into a CUDA Graph (the fork to the communication stream, the NCCL call and
// the join become part of it), later runs replayed; every run gives 2 x + 1 (one rank: the
// average is the bucket itself) and 3 x from a kernel that ran between start and wait.
void graph_mode_all_reduce_is_captured_and_replayed() {
  Graph g;
  Tensor x = g.input("x", {1000}, float32, cuda);
  Tensor bucket = x * 2.0;  // a fresh buffer, as graph_reduce's concat makes
  const int64_t tag = dist::detail::new_collective_tag();
  Tensor token = dist::detail::all_reduce_start(bucket, dist::ReduceOp::avg, tag, 0);
  Tensor beside = x * 3.0;  // may run while the all-reduce does
  Tensor reduced = dist::detail::all_reduce_wait(bucket, token, dist::ReduceOp::avg, tag, 0);
  Executable exe = compile(g, {reduced + 1.0, token, beside}, {.cuda_graph = true});
  for (int run = 0; run < 4; ++run) {
    SCOPED_TRACE(run);
    std::vector<float> in(1000);
    for (int k = 0; k < 1000; ++k) in[k] = static_cast<float>(k % 17 + run);
    auto out = exe.run({{"x", Tensor::from_vector<float>(in, {1000}).to(cuda)}});
    std::vector<float> y = host(out[0]), z = host(out[2]);
    int wrong = 0;
    for (int k = 0; k < 1000; ++k) wrong += y[k] != 2 * in[k] + 1 || z[k] != 3 * in[k];
    EXPECT_EQ(wrong, 0);
    EXPECT_EQ(out[1].to(cpu).to_vector<int64_t>(), std::vector<int64_t>{tag});
  }
  EXPECT_EQ(exe.num_captures(), 1);
}

TEST_F(NcclOneRank, GraphModeAllReduceIsCapturedAndReplayed) {
  graph_mode_all_reduce_is_captured_and_replayed();
}

TEST_F(NcclOneRankComputeStream, GraphModeAllReduceIsCapturedAndReplayed) {
  graph_mode_all_reduce_is_captured_and_replayed();
}

// A compiled SGD training step on CUDA with graph mode's gradient all-reduce (two buckets,
// NCCL average of one rank: the gradients themselves), captured into a CUDA Graph from run 2,
// against the same step without the all-reduce: same losses and parameters (within 1e-5:
// cuDNN's convolution backward may pick other algorithms in the two executables).
TEST_F(NcclOneRank, TrainingStepWithTheReduceEqualsTheStepWithout) {
  auto a = test::graph_step_net(5), b = test::graph_step_net(5);
  a->to(cuda);
  b->to(cuda);
  optim::SGD oa(a->parameters(), 0.1, 0.9), ob(b->parameters(), 0.1, 0.9);
  const std::vector<Tensor> params = oa.params();
  const auto buckets = test::reverse_buckets(params, 200);
  ASSERT_GE(buckets.size(), 2u);
  JitFunction with = test::graph_train_step(
      *a, oa,
      [&](const std::vector<Tensor>& g) {
        return dist::detail::all_reduce_gradients_graph(buckets, params, g);
      },
      false);
  JitFunction without = test::graph_train_step(*b, ob, nullptr, false);
  for (int k = 0; k < 4; ++k) {
    SCOPED_TRACE(k);
    auto [x, y] = test::graph_step_batch(k, 8);
    const Tensor la = with({x.to(cuda), y.to(cuda)})[0].to(cpu);
    const Tensor lb = without({x.to(cuda), y.to(cuda)})[0].to(cpu);
    EXPECT_LE(test::max_rel_error(la, lb), 1e-5);
  }
  const auto pa = a->parameters(), pb = b->parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_LE(test::max_rel_error(pa[i], pb[i]), 1e-5) << i;
  EXPECT_GE(with.last_executable().num_captures(), 1);
  EXPECT_NE(with.last_executable().dump().find("all_reduce_start"), std::string::npos);
}

}  // namespace
}  // namespace duet
