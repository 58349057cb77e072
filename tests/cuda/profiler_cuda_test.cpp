// duet::profiler on a GPU: eager ops and graph runs get device times from CUDA events, a
// recording steady state adds no host wait (only stop() waits), graph replays are one event,
// and the trace has a "cuda:0 stream" row. Skipped without a CUDA device.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cuda_test_util.h"
#include "duet/graph.h"
#include "duet/models/fashion_cnn.h"
#include "duet/nn.h"
#include "duet/optim.h"
#include "duet/profiler.h"

namespace duet {
namespace {

using profiler::Event;
using profiler::EventKind;

TEST(CudaProfiler, EagerOpsHaveDeviceTimesAndNoHostWaits) {
  DUET_REQUIRE_CUDA();
  Generator gen(0);
  Tensor a = Tensor::randn({256, 256}, gen).to(cuda), b = Tensor::randn({256, 256}, gen).to(cuda);
  matmul(a, b);  // warm-up: cuBLAS handle, allocator
  synchronize(cuda);
  profiler::Profile p;
  add(a, b);  // the first CUDA event of the profile: one synchronize for the reference event
  const int64_t syncs = cuda_sync_count();
  for (int i = 0; i < 10; ++i) matmul(relu(a), b);
  EXPECT_EQ(cuda_sync_count(), syncs) << "recording adds no host wait";
  p.stop();
  int timed = 0;
  for (const Event& e : p.events()) {
    if (e.kind != EventKind::op) continue;
    EXPECT_EQ(e.device, cuda) << e.name;
    EXPECT_GE(e.device_start_ns, 0) << e.name;
    EXPECT_GE(e.device_duration_ns, 0) << e.name;
    ++timed;
  }
  EXPECT_EQ(timed, 21);
  EXPECT_NE(p.table().find("Device total"), std::string::npos) << p.table();
  EXPECT_NE(p.table({.sort_by = "device"}).find("matmul"), std::string::npos);
  const auto j = nlohmann::json::parse(p.chrome_trace());
  int device_rows = 0;
  bool stream_named = false;
  for (const auto& e : j["traceEvents"]) {
    if (e["ph"] == "X" && e["cat"] == "op_device") ++device_rows;
    if (e["ph"] == "M" && e["args"]["name"] == "cuda:0 stream") stream_named = true;
  }
  EXPECT_EQ(device_rows, 21);
  EXPECT_TRUE(stream_named);
}

TEST(CudaProfiler, GraphRunsKernelByKernelThenOneEventPerReplay) {
  DUET_REQUIRE_CUDA();
  Generator gen(1);
  auto net = models::fashion_cnn(gen);
  net->to(cuda);
  optim::SGD opt(net->parameters(), 0.01, 0.9);
  Graph g({.training = true});
  Tensor x = g.input("x", {8, 1, 28, 28}, float32, cuda);
  Tensor y = g.input("y", {8}, int64, cuda);
  CompileOptions co;
  co.training = true;
  co.optimizer = &opt;
  Executable step = compile(g, {cross_entropy((*net)(x), y)}, co);
  Tensor xb = Tensor::randn({8, 1, 28, 28}, gen).to(cuda);
  Tensor yb = Tensor::zeros({8}, int64).to(cuda);
  profiler::Profile p;
  step.run({{"x", xb}, {"y", yb}});  // run 1: kernel by kernel -> node events
  step.run({{"x", xb}, {"y", yb}});  // run 2: captured
  const int64_t syncs = cuda_sync_count();
  for (int i = 0; i < 5; ++i) step.run({{"x", xb}, {"y", yb}});  // replays
  EXPECT_EQ(cuda_sync_count(), syncs) << "recording replays adds no host wait";
  p.stop();
  std::vector<const Event*> runs;
  int nodes = 0;
  for (const Event& e : p.events()) {
    if (e.kind == EventKind::graph_run) runs.push_back(&e);
    if (e.kind == EventKind::graph_node) {
      ++nodes;
      EXPECT_EQ(e.parent, runs.empty() ? -2 : runs.front()->id) << "nodes only in run 1";
      EXPECT_GE(e.device_duration_ns, 0);
    }
  }
  ASSERT_EQ(runs.size(), 7u);
  EXPECT_GT(nodes, 10);
  for (const Event* r : runs) EXPECT_GE(r->device_duration_ns, 0);
  EXPECT_EQ(step.num_captures(), 1);
}

}  // namespace
}  // namespace duet
