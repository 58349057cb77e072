// Mixed-precision training on the GPU (label cuda; skipped without a device): the Fashion-MNIST
// CNN under duet::autocast(bfloat16) eagerly on CUDA against the same steps on the CPU, and the
// same step compiled with CompileOptions::autocast: its CUDA Graph replay gives the bits of the
// uncaptured run, makes no host synchronisation and no device allocation per step, and
// follows eager autocast training on the GPU; float16 with a GradScaler in the compiled step
// replays without a host wait.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "cuda_test_util.h"
#include "duet/amp.h"
#include "duet/graph.h"
#include "duet/models/fashion_cnn.h"
#include "duet/nn.h"
#include "duet/optim.h"
#include "test_util.h"

namespace duet {
namespace {

Tensor batch_x(int64_t n, uint64_t seed) {
  Generator gen(seed);
  return Tensor::randn({n, 1, 28, 28}, gen);
}
Tensor batch_y(int64_t n, uint64_t seed) {
  Generator gen(seed);
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (auto& e : v) e = static_cast<int64_t>(gen.next_u64() % 10);
  return Tensor::from_vector<int64_t>(v, {n});
}

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  Tensor x = a.to(cpu).contiguous(), y = b.to(cpu).contiguous();
  return std::memcmp(x.data_ptr(), y.data_ptr(), x.numel() * dtype_size(x.dtype())) == 0;
}

struct TrainRun {
  std::vector<double> losses;
  nn::StateDict state;
  int captures = 0;
};

// `steps` eager SGD-momentum steps under autocast(dt) on `device`, from the same weights, data
// and dropout seeds on every device.
TrainRun train_eager(Device device, DType dt, int steps) {
  Generator gen(7);
  auto net = models::fashion_cnn(gen);
  net->to(device);
  optim::SGD opt(net->parameters(), 0.05, /*momentum=*/0.9);
  TrainRun r;
  manual_seed(11);
  for (int i = 0; i < steps; ++i) {
    opt.zero_grad();
    Tensor loss;
    {
      auto scope = autocast(dt);
      loss = cross_entropy((*net)(batch_x(16, i).to(device)), batch_y(16, i).to(device));
    }
    loss.backward();
    opt.step();
    r.losses.push_back(loss.item<double>());
  }
  r.state = net->state_dict();
  return r;
}

// The same steps compiled with CompileOptions::autocast on cuda.
TrainRun train_graph(DType dt, bool capture, int steps) {
  Generator gen(7);
  auto net = models::fashion_cnn(gen);
  net->to(cuda);
  optim::SGD opt(net->parameters(), 0.05, /*momentum=*/0.9);
  Graph g({.training = true});
  Tensor x = g.input("x", {16, 1, 28, 28}, float32, cuda);
  Tensor y = g.input("y", {16}, int64, cuda);
  Tensor loss = cross_entropy((*net)(x), y);
  Executable exe = compile(
      g, {loss}, {.training = true, .optimizer = &opt, .cuda_graph = capture, .autocast = dt});
  TrainRun r;
  manual_seed(11);
  for (int i = 0; i < steps; ++i)
    r.losses.push_back(exe.run({{"x", batch_x(16, i).to(cuda)}, {"y", batch_y(16, i).to(cuda)}})[0]
                           .item<double>());
  r.state = net->state_dict();
  r.captures = exe.num_captures();
  return r;
}

// Two runs agree within rtol (losses, every floating state entry relative to its largest
// magnitude; integer entries exactly).
void expect_runs_close(const TrainRun& a, const TrainRun& b, double rtol) {
  ASSERT_EQ(a.losses.size(), b.losses.size());
  for (size_t i = 0; i < a.losses.size(); ++i)
    EXPECT_NEAR(a.losses[i], b.losses[i], rtol * std::abs(b.losses[i])) << "step " << i;
  ASSERT_EQ(a.state.size(), b.state.size());
  for (size_t i = 0; i < a.state.size(); ++i) {
    SCOPED_TRACE(a.state[i].first);
    EXPECT_EQ(a.state[i].first, b.state[i].first);
    // Master weights, optimizer-facing state and running statistics stay float32.
    EXPECT_EQ(a.state[i].second.dtype(), b.state[i].second.dtype());
    if (is_floating(b.state[i].second.dtype()))
      EXPECT_LE(test::max_rel_error(a.state[i].second, b.state[i].second), rtol);
    else
      EXPECT_EQ(a.state[i].second.to(cpu).to_vector<int64_t>(),
                b.state[i].second.to(cpu).to_vector<int64_t>());
  }
}

}  // namespace

// Eager autocast(bfloat16) training steps on the GPU follow the CPU's: both round the conv
// and linear results to bfloat16 (different kernels, so a result may differ by an ulp of
// bfloat16, 2^-8 relative), and keep the weights and batch-norm statistics in float32.
TEST(CudaLowpTraining, EagerBFloat16AutocastStepsMatchCpu) {
  DUET_REQUIRE_CUDA();
  const TrainRun host = train_eager(cpu, bfloat16, 2);
  const TrainRun dev = train_eager(cuda, bfloat16, 2);
  for (const auto& [name, t] : dev.state) {
    if (is_floating(t.dtype())) {
      EXPECT_EQ(t.dtype(), float32) << name;
    }
  }
  expect_runs_close(dev, host, 3e-2);
}

// float16 the same way (two steps from a small initial loss need no loss scaling).
TEST(CudaLowpTraining, EagerFloat16AutocastStepsMatchCpu) {
  DUET_REQUIRE_CUDA();
  const TrainRun host = train_eager(cpu, float16, 2);
  const TrainRun dev = train_eager(cuda, float16, 2);
  expect_runs_close(dev, host, 1e-2);
}

// The compiled bfloat16 step replayed from a CUDA Graph gives the bits of the same step run
// kernel by kernel (deterministic cuDNN algorithms), dropout masks included.
TEST(CudaLowpTraining, BFloat16GraphReplayMatchesUncapturedBitForBit) {
  DUET_REQUIRE_CUDA();
  const bool was = cuda_deterministic();
  set_cuda_deterministic(true);
  const TrainRun on = train_graph(bfloat16, true, 4);
  const TrainRun off = train_graph(bfloat16, false, 4);
  set_cuda_deterministic(was);
  EXPECT_EQ(on.captures, 1);
  EXPECT_EQ(off.captures, 0);
  ASSERT_EQ(on.losses.size(), off.losses.size());
  for (size_t i = 0; i < on.losses.size(); ++i) EXPECT_EQ(on.losses[i], off.losses[i]) << i;
  ASSERT_EQ(on.state.size(), off.state.size());
  for (size_t i = 0; i < on.state.size(); ++i)
    EXPECT_TRUE(same_bits(on.state[i].second, off.state[i].second)) << on.state[i].first;
}

// The compiled bfloat16 step follows eager autocast on the GPU (the graph may fuse and fold,
// so not bit for bit).
TEST(CudaLowpTraining, BFloat16GraphFollowsEager) {
  DUET_REQUIRE_CUDA();
  const TrainRun eager = train_eager(cuda, bfloat16, 3);
  const TrainRun graph = train_graph(bfloat16, true, 3);
  expect_runs_close(graph, eager, 3e-2);
}

// Once captured, a bfloat16 training step is one replay: no host wait, no device malloc.
TEST(CudaLowpTraining, BFloat16SteadyStateMakesNoMallocAndNoSync) {
  DUET_REQUIRE_CUDA();
  Generator gen(8);
  auto net = models::fashion_cnn(gen);
  net->to(cuda);
  optim::SGD opt(net->parameters(), 0.01, /*momentum=*/0.9);
  Graph g({.training = true});
  Tensor x = g.input("x", {16, 1, 28, 28}, float32, cuda);
  Tensor y = g.input("y", {16}, int64, cuda);
  Executable exe = compile(g, {cross_entropy((*net)(x), y)},
                           {.training = true, .optimizer = &opt, .autocast = bfloat16});
  const Tensor xs = batch_x(16, 1).to(cuda), ys = batch_y(16, 1).to(cuda);
  for (int i = 0; i < 3; ++i) exe.run({{"x", xs}, {"y", ys}});
  ASSERT_EQ(exe.num_captures(), 1);
  synchronize(cuda);
  reset_peak_memory(cuda);
  const int64_t syncs = cuda_sync_count();
  Tensor loss;
  for (int i = 0; i < 5; ++i) loss = exe.run({{"x", xs}, {"y", ys}})[0];
  EXPECT_EQ(cuda_sync_count(), syncs);
  EXPECT_EQ(memory_stats(cuda).num_device_mallocs, 0);
  EXPECT_TRUE(std::isfinite(loss.item<double>()));
  EXPECT_EQ(exe.num_captures(), 1);
}

// float16 training compiled with a GradScaler (CompileOptions::grad_scaler): the unscale, the
// inf/NaN check, the gated update and the scale update all run on the device, so a captured
// step replays with no host wait and no device allocation. An initial scale of 2^24
// overflows float16 gradients: the first steps are skipped on the device and the scale backs
// off until the gradients are finite.
TEST(CudaLowpTraining, Float16GradScalerGraphStepMakesNoSync) {
  DUET_REQUIRE_CUDA();
  Generator gen(9);
  auto net = models::fashion_cnn(gen);
  net->to(cuda);
  optim::SGD opt(net->parameters(), 0.01, /*momentum=*/0.9);
  amp::GradScaler scaler({.init_scale = 16777216.0, .growth_interval = 1000});
  Graph g({.training = true});
  Tensor x = g.input("x", {16, 1, 28, 28}, float32, cuda);
  Tensor y = g.input("y", {16}, int64, cuda);
  Executable exe =
      compile(g, {cross_entropy((*net)(x), y)},
              {.training = true, .optimizer = &opt, .autocast = float16, .grad_scaler = &scaler});
  const Tensor xs = batch_x(16, 2).to(cuda), ys = batch_y(16, 2).to(cuda);
  for (int i = 0; i < 3; ++i) exe.run({{"x", xs}, {"y", ys}});
  ASSERT_EQ(exe.num_captures(), 1);
  synchronize(cuda);
  reset_peak_memory(cuda);
  const int64_t syncs = cuda_sync_count();
  Tensor loss;
  for (int i = 0; i < 30; ++i) loss = exe.run({{"x", xs}, {"y", ys}})[0];
  EXPECT_EQ(cuda_sync_count(), syncs);
  EXPECT_EQ(memory_stats(cuda).num_device_mallocs, 0);
  EXPECT_TRUE(std::isfinite(loss.item<double>()));
  // 33 steps from 2^24: the scale halved on every overflowing step, then steps ran.
  const double scale = scaler.get_scale();
  EXPECT_LT(scale, 16777216.0);
  EXPECT_GT(scale, 0.0);
  EXPECT_GE(scaler.skipped_steps(), 1);
  EXPECT_LT(scaler.skipped_steps(), 33);
  for (const Tensor& p : net->parameters()) {
    EXPECT_EQ(p.dtype(), float32);
    EXPECT_TRUE(std::isfinite(sum(p).item<double>()));
  }
  EXPECT_EQ(exe.num_captures(), 1);
}

}  // namespace duet
