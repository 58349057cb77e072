// duet/distributed.h in one process (no mpirun): use before init, init as a singleton (a world
// of one: collectives are identities), double init, argument errors, a missing plugin, an
// incomplete environment. init() changes the whole process (MPI allows one MPI_Init per
// process), so each test runs in a child process of its own (gtest's threadsafe death tests
// re-run this binary): other tests of the binary are not affected.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "distributed/plugin_loader.h"
#include "distributed/process_group.h"
#include "duet/distributed.h"
#include "duet/error.h"
#include "duet/tensor.h"
#include "distributed_test_util.h"

namespace dist = duet::distributed;
using duet::Tensor;

namespace {

using duet::test::require;
using duet::test::require_error;

// The launch variables a test process may inherit (say from a run under mpirun).
void clear_launch_env() {
  for (const char* v :
       {"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "PMI_SIZE", "RANK", "WORLD_SIZE",
        "MASTER_ADDR", "MASTER_PORT", "DUET_DIST_TIMEOUT", "DUET_MPI_BACKEND"})
    unsetenv(v);
}

TEST(ProcessGroup, UseBeforeInit) {
  IN_CHILD({
    require(!dist::is_initialized(), "not initialized");
    require(dist::rank() == 0 && dist::world_size() == 1 && dist::local_rank() == 0,
            "rank 0 of 1 before init");
    require(dist::is_main_process(), "main process before init");
    require(dist::detail::ProcessGroup::current() == nullptr, "no current group");
    const std::string want = "distributed: not initialized; call duet::distributed::init() first";
    Tensor t = Tensor::zeros({3});
    require_error([&] { dist::all_reduce(t); }, want);
    require_error([&] { (void)dist::all_reduce_async(t); }, want);
    require_error([&] { dist::broadcast(t, 0); }, want);
    require_error([&] { (void)dist::all_gather(t); }, want);
    require_error([&] { (void)dist::reduce_scatter(t); }, want);
    require_error([&] { dist::barrier(); }, want);
    require_error([&] { (void)dist::backend(); }, want);
    dist::shutdown();  // nothing to do
  });
}

TEST(ProcessGroup, SingletonCollectivesAreIdentities) {
  IN_CHILD({
    clear_launch_env();
    dist::init();  // not under mpirun: MPI starts a world of one
    require(dist::is_initialized(), "initialized");
    require(dist::backend() == dist::Backend::mpi, "automatic picks mpi without mpirun");
    require(dist::rank() == 0 && dist::world_size() == 1 && dist::local_rank() == 0, "rank 0 of 1");
    for (dist::ReduceOp op :
         {dist::ReduceOp::sum, dist::ReduceOp::avg, dist::ReduceOp::min, dist::ReduceOp::max}) {
      Tensor f = Tensor::from_vector({1.5, -2, 3}, {3});
      dist::all_reduce(f, op);
      require(f.to_vector<float>() == std::vector<float>{1.5f, -2.f, 3.f},
              std::string("float32 all_reduce ") + dist::reduce_op_name(op));
      Tensor d = Tensor::from_vector({0.1, 0.2}, {2}, duet::float64);
      dist::all_reduce_async(d, op)->wait();
      require(d.to_vector<double>() == std::vector<double>{0.1, 0.2}, "float64 all_reduce");
      if (op == dist::ReduceOp::avg) continue;
      Tensor i = Tensor::from_vector(std::vector<int64_t>{-5, int64_t{1} << 50}, {2});
      dist::all_reduce(i, op);
      require(i.to_vector<int64_t>() == std::vector<int64_t>{-5, int64_t{1} << 50},
              "int64 all_reduce");
      Tensor b = Tensor::from_vector({1, 0, 1}, {3}, duet::bool_);
      dist::all_reduce(b, op);
      require(b.to_vector<double>() == std::vector<double>{1, 0, 1}, "bool all_reduce");
    }
    Tensor t = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
    dist::broadcast(t, 0);
    require(t.to_vector<float>() == std::vector<float>{1, 2, 3, 4}, "broadcast");
    Tensor g = dist::all_gather(t);
    require(g.shape() == duet::Shape({2, 2}) && g.to_vector<float>() == t.to_vector<float>(),
            "all_gather");
    Tensor g0 = dist::all_gather(Tensor::scalar(7.0));
    require(g0.shape() == duet::Shape({1}) && g0.item() == 7.0, "all_gather of a 0-d tensor");
    Tensor s = dist::reduce_scatter(t, dist::ReduceOp::avg);
    require(s.shape() == duet::Shape({2, 2}) && s.to_vector<float>() == t.to_vector<float>(),
            "reduce_scatter");
    dist::barrier();
    dist::shutdown();
    require(!dist::is_initialized() && dist::world_size() == 1, "shut down");
  });
}

TEST(ProcessGroup, ArgumentErrors) {
  IN_CHILD({
    clear_launch_env();
    dist::init();
    Tensor t = Tensor::zeros({4, 3});
    require_error([&] { dist::broadcast(t, 1); },
                  "broadcast: root 1 is not a rank of this group (expected 0 .. 0)");
    require_error([&] { dist::broadcast(t, -1); }, "root -1 is not a rank");
    Tensor nc = Tensor::zeros({3, 4}).transpose(0, 1);
    require_error([&] { dist::all_reduce(nc); },
                  "all_reduce: the tensor (float32 (4, 3), strides (1, 4)) is not contiguous");
    require_error([&] { (void)dist::all_gather(nc); }, "all_gather: the tensor");
    require_error([&] { (void)dist::reduce_scatter(Tensor::scalar(1.0)); },
                  "reduce_scatter: the tensor is 0-d");
    Tensor i = Tensor::zeros({2}, duet::int64);
    require_error([&] { dist::all_reduce(i, dist::ReduceOp::avg); },
                  "all_reduce: avg needs a floating dtype (float32 or float64) but the tensor "
                  "is int64");
    Tensor b = Tensor::zeros({2}, duet::bool_);
    require_error([&] { (void)dist::reduce_scatter(b, dist::ReduceOp::avg); },
                  "reduce_scatter: avg needs a floating dtype");
    Tensor undefined;
    require_error([&] { dist::all_reduce(undefined); }, "all_reduce: the tensor is undefined");
    // float16 / bfloat16 are tensor dtypes, but the collectives reduce float32 (MPI has no
    // 16-bit floating reduction): the raw group and the tensor API refuse them, saying what to do.
    std::vector<uint16_t> half(4);
    require_error(
        [&] {
          dist::detail::ProcessGroup::get().all_reduce(half.data(), 4, duet::DType::float16,
                                                       dist::ReduceOp::sum, "all_reduce (test)");
        },
        "all_reduce (test): dtype float16 is not supported by the collectives");
    Tensor bf = Tensor::ones({2}, duet::bfloat16);
    require_error([&] { dist::all_reduce(bf); },
                  "all_reduce: dtype bfloat16 is not supported by the collectives (float32, "
                  "float64, int64, bool; cast a float16 or bfloat16 tensor to float32 first)");
    // The group still works after argument errors.
    dist::all_reduce(t);
    dist::shutdown();
  });
}

TEST(ProcessGroup, DoubleInitAndInitAfterShutdown) {
  IN_CHILD({
    clear_launch_env();
    dist::init();
    require_error([] { dist::init(); },
                  "distributed: init: already initialized (mpi, rank 0 of 1); call shutdown() "
                  "before a second init()");
    require_error([] { dist::init(dist::Backend::mpi); }, "already initialized");
    dist::shutdown();
    dist::shutdown();  // a second shutdown does nothing
    // MPI cannot start twice in one process.
    require_error([] { dist::init(); }, "MPI was finalized by an earlier shutdown()");
    require(!dist::is_initialized(), "a failed init leaves no group");
  });
}

TEST(ProcessGroup, MissingPluginIsAClearError) {
  IN_CHILD({
    clear_launch_env();
    setenv("DUET_MPI_BACKEND", "/nonexistent/libduet_mpi.so", 1);
    require_error([] { dist::init(); },
                  "distributed: the mpi engine is not available: "
                  "DUET_MPI_BACKEND=/nonexistent/libduet_mpi.so does not exist");
    require(!dist::is_initialized(), "no group");
    // A library that is not a plugin: libduet itself (found through its search path).
    setenv("DUET_MPI_BACKEND", DUET_BINARY_DIR "/libduet.so", 1);
    require_error([] { dist::init(); },
                  "is not a duet engine plugin (it has no "
                  "duet_comm_backend_create function)");
    unsetenv("DUET_MPI_BACKEND");
    // The search list names every place it looked, $DUET_BACKEND_PATH first.
    setenv("DUET_BACKEND_PATH", "/nonexistent/a:/nonexistent/b", 1);
    const std::string file = dist::detail::comm_plugin_file(dist::Backend::mpi);
    require(file == "libduet_mpi.so", "the plugin's file name");
  });
}

TEST(ProcessGroup, NcclPluginMissingNamesWhereItLooked) {
  // Only where no libduet_nccl.so was built (a CPU-only build).
  const std::string beside = std::string(DUET_BINARY_DIR) + "/libduet_nccl.so";
  if (std::FILE* f = std::fopen(beside.c_str(), "r")) {
    std::fclose(f);
    GTEST_SKIP() << beside << " exists";
  }
  IN_CHILD({
    clear_launch_env();
    setenv("DUET_BACKEND_PATH", "/nonexistent/dir", 1);
    unsetenv("DUET_NCCL_BACKEND");
    require_error([] { dist::init(dist::Backend::nccl); },
                  "distributed: the nccl engine is not available: libduet_nccl.so was not found "
                  "next to libduet (searched: /nonexistent/dir/libduet_nccl.so, " DUET_BINARY_DIR
                  "/libduet_nccl.so");
    require(!dist::is_initialized(), "no group");
  });
}

TEST(ProcessGroup, IncompleteEnvironmentNamesTheVariables) {
  IN_CHILD({
    clear_launch_env();
    // First: the poll interval is read once per process.
    setenv("DUET_DIST_POLL_US", "fast", 1);
    require_error([] { dist::init(); },
                  "distributed: DUET_DIST_POLL_US=fast is not a number of microseconds");
    unsetenv("DUET_DIST_POLL_US");
    setenv("RANK", "0", 1);
    require_error([] { dist::init(); },
                  "distributed: init(automatic): the environment is incomplete: RANK is set but "
                  "WORLD_SIZE is not");
    require_error([] { dist::init(dist::Backend::gloo); }, "RANK is set but WORLD_SIZE is not");
    unsetenv("RANK");
    setenv("WORLD_SIZE", "2", 1);
    require_error([] { dist::init(); }, "WORLD_SIZE is set but RANK is not");
    unsetenv("WORLD_SIZE");
    setenv("DUET_DIST_TIMEOUT", "soon", 1);
    require_error([] { dist::init(); },
                  "distributed: DUET_DIST_TIMEOUT=soon is not a positive number of seconds");
    require(!dist::is_initialized(), "no group");
  });
}

TEST(ProcessGroup, TensorSignatures) {
  const Tensor t = Tensor::zeros({2, 3}, duet::float64);
  const auto sig = dist::detail::tensor_signature(t);
  EXPECT_EQ(dist::detail::describe_tensor_signature(sig), "float64 (2, 3)");
  EXPECT_EQ(dist::detail::describe_tensor_signature(
                dist::detail::tensor_signature(Tensor::scalar(1.0, duet::int64))),
            "int64 ()");
  EXPECT_NE(sig, dist::detail::tensor_signature(Tensor::zeros({3, 2}, duet::float64)));
  EXPECT_NE(sig, dist::detail::tensor_signature(Tensor::zeros({2, 3})));
  EXPECT_STREQ(dist::backend_name(dist::Backend::gloo), "gloo");
  EXPECT_STREQ(dist::reduce_op_name(dist::ReduceOp::avg), "avg");
}

}  // namespace
