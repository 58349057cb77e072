// Graph mode on the GPU: the arena on the device, the CUDA Graph capture of the whole step
// (run 1 kernel by kernel, run 2 captured, later runs replayed), fresh dropout seeds on every
// replay, recapture when a captured tensor moves, and a steady state with no cudaMalloc and
// no host wait.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>

#include "cuda_test_util.h"
#include "duet/graph.h"
#include "duet/jit.h"
#include "duet/models/fashion_cnn.h"
#include "duet/models/resnet.h"
#include "duet/nn.h"
#include "duet/optim.h"
#include "graph/executable.h"
#include "test_util.h"

namespace duet {
namespace {

Tensor batch_x(int64_t n, uint64_t seed) {
  Generator gen(seed);
  return Tensor::randn({n, 1, 28, 28}, gen);
}
Tensor batch_y(int64_t n, uint64_t seed) {
  Generator gen(seed);
  std::vector<int64_t> v(n);
  for (auto& e : v) e = static_cast<int64_t>(gen.next_u64() % 10);
  return Tensor::from_vector<int64_t>(v, {n});
}

// Bitwise equality of two tensors on any devices.
bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  Tensor x = a.to(cpu).contiguous(), y = b.to(cpu).contiguous();
  return std::memcmp(x.data_ptr(), y.data_ptr(), x.numel() * dtype_size(x.dtype())) == 0;
}

// The Fashion-MNIST CNN on cuda in eval mode, and its inference graph for batches of 8.
struct CnnEval {
  std::shared_ptr<nn::Sequential> net;
  Executable exe;
};
CnnEval cnn_eval(uint64_t seed, bool capture = true) {
  Generator gen(seed);
  CnnEval c{models::fashion_cnn(gen), {}};
  c.net->to(cuda);
  c.net->eval();
  Graph g;
  Tensor x = g.input("x", {8, 1, 28, 28}, float32, cuda);
  c.exe = compile(g, {(*c.net)(x)}, {.cuda_graph = capture});
  return c;
}

struct EvalRun {
  std::vector<Tensor> outputs;  // on the host
  int captures = 0;
};

EvalRun eval_graph(nn::Module& net, bool capture, int runs) {
  Graph g;
  Tensor x = g.input("x", {8, 1, 28, 28}, float32, cuda);
  Tensor y = net(x);
  Executable exe = compile(g, {y}, {.cuda_graph = capture});
  EXPECT_EQ(exe.device(), cuda);
  EvalRun r;
  for (int i = 0; i < runs; ++i) {
    r.outputs.push_back(exe.run({{"x", batch_x(8, 100 + i).to(cuda)}})[0].to(cpu));
    EXPECT_EQ(exe.num_captures(), capture && i >= 1 ? 1 : 0) << "run " << i;
  }
  r.captures = exe.num_captures();
  return r;
}

// A replayed inference graph gives the bits of the same graph run kernel by kernel (same
// kernels, same cuDNN algorithms), and eager's values within rounding.
TEST(CudaGraphMode, EvalReplayMatchesUncapturedAndEager) {
  DUET_REQUIRE_CUDA();
  Generator gen(5);
  auto net = models::fashion_cnn(gen);
  net->to(cuda);
  net->eval();
  EvalRun on = eval_graph(*net, true, 4);
  EvalRun off = eval_graph(*net, false, 4);
  EXPECT_EQ(on.captures, 1);
  EXPECT_EQ(off.captures, 0);
  for (int i = 0; i < 4; ++i) {
    SCOPED_TRACE(i);
    EXPECT_TRUE(same_bits(on.outputs[i], off.outputs[i]));
    Tensor eager = (*net)(batch_x(8, 100 + i).to(cuda));
    EXPECT_LE(test::max_rel_error(on.outputs[i], eager), 1e-5);
  }
}

// A host tensor fed to a GPU graph is uploaded into its arena slot.
TEST(CudaGraphMode, HostFeedIsUploaded) {
  DUET_REQUIRE_CUDA();
  CnnEval c = cnn_eval(6);
  Executable& exe = c.exe;
  Tensor from_host = exe.run({{"x", batch_x(8, 1)}})[0].to(cpu);
  Tensor from_device = exe.run({{"x", batch_x(8, 1).to(cuda)}})[0].to(cpu);
  EXPECT_TRUE(same_bits(from_host, from_device));
  EXPECT_DUET_ERROR(exe.run({{"x", batch_x(4, 1)}}), "run: input 'x'", "got shape (4, 1, 28, 28)",
                    "expected (8, 1, 28, 28)");
}

struct TrainRun {
  std::vector<double> losses;
  nn::StateDict state;
  int captures = 0;
};

// `steps` compiled SGD-momentum steps of the Fashion-MNIST CNN (dropout included) on cuda.
TrainRun train_graph(bool capture, int steps) {
  Generator gen(7);
  auto net = models::fashion_cnn(gen);
  net->to(cuda);
  optim::SGD opt(net->parameters(), 0.05, /*momentum=*/0.9);
  Graph g({.training = true});
  Tensor x = g.input("x", {16, 1, 28, 28}, float32, cuda);
  Tensor y = g.input("y", {16}, int64, cuda);
  Tensor loss = cross_entropy((*net)(x), y);
  Executable exe = compile(g, {loss}, {.training = true, .optimizer = &opt, .cuda_graph = capture});
  TrainRun r;
  manual_seed(11);
  for (int i = 0; i < steps; ++i)
    r.losses.push_back(exe.run({{"x", batch_x(16, i).to(cuda)}, {"y", batch_y(16, i).to(cuda)}})[0]
                           .item<double>());
  r.state = net->state_dict();
  r.captures = exe.num_captures();
  return r;
}

// The whole training step (forward, backward, SGD update, BN running statistics) replayed
// from a CUDA Graph gives the bits of the uncaptured run under the deterministic setting;
// dropout draws new masks on every replay (a stale seed would repeat step 1's masks).
TEST(CudaGraphMode, TrainingReplayMatchesUncapturedBitForBit) {
  DUET_REQUIRE_CUDA();
  const bool was = cuda_deterministic();
  set_cuda_deterministic(true);
  TrainRun on = train_graph(true, 5);
  TrainRun off = train_graph(false, 5);
  TrainRun again = train_graph(true, 5);
  set_cuda_deterministic(was);
  EXPECT_EQ(on.captures, 1);
  EXPECT_EQ(off.captures, 0);
  ASSERT_EQ(on.losses.size(), off.losses.size());
  for (size_t i = 0; i < on.losses.size(); ++i) {
    EXPECT_EQ(on.losses[i], off.losses[i]) << "step " << i;
    EXPECT_EQ(on.losses[i], again.losses[i]) << "step " << i << " (run to run)";
  }
  ASSERT_EQ(on.state.size(), off.state.size());
  for (size_t i = 0; i < on.state.size(); ++i) {
    SCOPED_TRACE(on.state[i].first);
    EXPECT_TRUE(same_bits(on.state[i].second, off.state[i].second));
    EXPECT_TRUE(same_bits(on.state[i].second, again.state[i].second));
  }
}

// Training in graph mode on the GPU follows eager training on the GPU.
TEST(CudaGraphMode, TrainingGraphFollowsEager) {
  DUET_REQUIRE_CUDA();
  Generator gen(7);
  auto net = models::fashion_cnn(gen);
  net->to(cuda);
  optim::SGD opt(net->parameters(), 0.05, /*momentum=*/0.9);
  manual_seed(11);
  std::vector<double> eager;
  for (int i = 0; i < 3; ++i) {
    opt.zero_grad();
    Tensor loss = cross_entropy((*net)(batch_x(16, i).to(cuda)), batch_y(16, i).to(cuda));
    loss.backward();
    opt.step();
    eager.push_back(loss.item<double>());
  }
  TrainRun graph = train_graph(true, 3);
  for (size_t i = 0; i < eager.size(); ++i)
    EXPECT_NEAR(graph.losses[i], eager[i], 1e-4 * std::abs(eager[i])) << "step " << i;
  const nn::StateDict es = net->state_dict();
  for (size_t i = 0; i < es.size(); ++i)
    if (is_floating(es[i].second.dtype())) {
      EXPECT_LE(test::max_rel_error(graph.state[i].second, es[i].second), 1e-4) << es[i].first;
    }
}

// After warm-up and capture, a training step is one graph launch: no cudaMalloc, no host
// wait; reading the loss is the one wait.
TEST(CudaGraphMode, SteadyStateMakesNoMallocAndNoSync) {
  DUET_REQUIRE_CUDA();
  Generator gen(8);
  auto net = models::fashion_cnn(gen);
  net->to(cuda);
  optim::Adam opt(net->parameters(), 1e-3);
  Graph g({.training = true});
  Tensor x = g.input("x", {16, 1, 28, 28}, float32, cuda);
  Tensor y = g.input("y", {16}, int64, cuda);
  Executable exe = compile(g, {cross_entropy((*net)(x), y)}, {.training = true, .optimizer = &opt});
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
  EXPECT_EQ(cuda_sync_count(), syncs + 1);
  EXPECT_EQ(exe.num_captures(), 1);
}

// The learning rate lives in a device tensor the captured graph reads: set_lr between
// replays takes effect without a recapture (lr 0 leaves the weights where they are).
TEST(CudaGraphMode, SetLrBetweenReplaysTakesEffect) {
  DUET_REQUIRE_CUDA();
  Generator gen(14);
  auto net = models::fashion_cnn(gen);
  net->to(cuda);
  optim::SGD opt(net->parameters(), 0.05);
  Graph g({.training = true});
  Tensor x = g.input("x", {16, 1, 28, 28}, float32, cuda);
  Tensor y = g.input("y", {16}, int64, cuda);
  Executable exe = compile(g, {cross_entropy((*net)(x), y)}, {.training = true, .optimizer = &opt});
  const Tensor xs = batch_x(16, 4).to(cuda), ys = batch_y(16, 4).to(cuda);
  for (int i = 0; i < 3; ++i) exe.run({{"x", xs}, {"y", ys}});
  ASSERT_EQ(exe.num_captures(), 1);
  opt.set_lr(0.0);
  const Tensor before = net->parameters()[0].clone();
  exe.run({{"x", xs}, {"y", ys}});
  EXPECT_TRUE(same_bits(net->parameters()[0], before));
  opt.set_lr(0.05);
  exe.run({{"x", xs}, {"y", ys}});
  EXPECT_FALSE(same_bits(net->parameters()[0], before));
  EXPECT_EQ(exe.num_captures(), 1);
}

// The arena is allocated once on the device; what a run holds beyond it is the planned
// derived values and the seeds, so the planned total is what the device sees.
TEST(CudaGraphMode, PlannedPeakHoldsOnDevice) {
  DUET_REQUIRE_CUDA();
  Generator gen(9);
  auto net = models::resnet18(10, gen);
  net->to(cuda);
  optim::SGD opt(net->parameters(), 0.01, 0.9);
  synchronize(cuda);
  const int64_t before = memory_stats(cuda).current_bytes;
  Graph g({.training = true});
  Tensor x = g.input("x", {4, 3, 64, 64}, float32, cuda);
  Tensor y = g.input("y", {4}, int64, cuda);
  Executable exe = compile(g, {cross_entropy((*net)(x), y)}, {.training = true, .optimizer = &opt});
  const MemoryReport rep = exe.memory_report();
  EXPECT_GT(rep.arena, 0);
  const int64_t after_compile = memory_stats(cuda).current_bytes;
  // The arena, the feeds' seeds slot (none here) and whatever the optimizer created lazily.
  EXPECT_GE(after_compile - before, rep.arena);
  const Tensor xs = Tensor::randn({4, 3, 64, 64}, gen).to(cuda);
  const Tensor ys = batch_y(4, 2).to(cuda);
  for (int i = 0; i < 2; ++i) exe.run({{"x", xs}, {"y", ys}});  // warm-up + capture
  synchronize(cuda);
  reset_peak_memory(cuda);
  const int64_t base = memory_stats(cuda).current_bytes;
  for (int i = 0; i < 3; ++i) exe.run({{"x", xs}, {"y", ys}});
  synchronize(cuda);
  // Replays allocate nothing: the peak is the resting state.
  EXPECT_EQ(memory_stats(cuda).peak_bytes, base);
  // Live buffers never share bytes in the plan.
  const auto& plan = exe.impl()->plan;
  for (size_t a = 0; a < plan.buffers.size(); ++a)
    for (size_t b = a + 1; b < plan.buffers.size(); ++b) {
      const auto &p = plan.buffers[a], &q = plan.buffers[b];
      const bool live_together = p.first <= q.last && q.first <= p.last;
      const bool share = p.offset < q.offset + q.size && q.offset < p.offset + p.size;
      ASSERT_FALSE(live_together && share) << "buffers " << a << " and " << b;
    }
}

// Moving the model's storage invalidates the addresses baked into the CUDA Graph: the next
// run captures again and says why; moving it off the device is an error.
TEST(CudaGraphMode, RecapturesWhenACapturedTensorMoves) {
  DUET_REQUIRE_CUDA();
  CnnEval c = cnn_eval(10);
  auto& net = c.net;
  Executable& exe = c.exe;
  const Tensor xs = batch_x(8, 3).to(cuda);
  for (int i = 0; i < 3; ++i) exe.run({{"x", xs}});
  EXPECT_EQ(exe.num_captures(), 1);
  EXPECT_EQ(exe.last_capture_reason(), "first capture");
  net->to(cpu);
  EXPECT_DUET_ERROR(exe.run({{"x", xs}}), "run: captured tensor %", "is now on cpu",
                    "compiled for cuda:0");
  net->to(cuda);  // new device storage
  Tensor out = exe.run({{"x", xs}})[0].to(cpu);
  EXPECT_EQ(exe.num_captures(), 2);
  EXPECT_NE(exe.last_capture_reason().find("moved to a new storage"), std::string::npos)
      << exe.last_capture_reason();
  EXPECT_LE(test::max_rel_error(out, (*net)(xs)), 1e-5);
}

// The planner's in-place rule on the GPU, where threads run in no particular order: an op
// over a view at an offset, or with a second input that is another view of the same buffer,
// gets its own output buffer; the results equal eager's.
TEST(CudaGraphMode, InPlacePlanningMatchesEager) {
  DUET_REQUIRE_CUDA();
  Generator gen(15);
  const Tensor xs = Tensor::randn({400, 300}, gen).to(cuda);
  const std::vector<std::function<Tensor(const Tensor&)>> models = {
      [](const Tensor& in) { return relu(exp(in).reshape({120000}).slice(0, 1, 120000)); },
      [](const Tensor& in) {
        Tensor e = exp(in);
        return add(e, e.slice(0, 0, 1));
      },
      [](const Tensor& in) {
        Tensor e = exp(in);
        return mul(e, e);
      }};
  for (size_t m = 0; m < models.size(); ++m) {
    SCOPED_TRACE(m);
    Graph g;
    Executable exe = compile(g, {models[m](g.input("x", {400, 300}, float32, cuda))});
    Tensor out;
    for (int i = 0; i < 3; ++i) out = exe.run({{"x", xs}})[0];
    EXPECT_TRUE(same_bits(out, models[m](xs)));
  }
}

// jit: a new input signature compiles (and so captures) a new executable.
TEST(CudaGraphMode, JitSignatureChangeRecaptures) {
  DUET_REQUIRE_CUDA();
  Generator gen(12);
  auto net = models::fashion_cnn(gen);
  net->to(cuda);
  net->eval();
  auto fn = jit([&](const std::vector<Tensor>& in) { return std::vector<Tensor>{(*net)(in[0])}; },
                {}, "infer");
  for (int i = 0; i < 3; ++i) fn({batch_x(8, i).to(cuda)});
  EXPECT_EQ(fn.last_executable().num_captures(), 1);
  Tensor small;
  for (int i = 0; i < 3; ++i) small = fn({batch_x(4, i).to(cuda)})[0].to(cpu);
  EXPECT_EQ(fn.num_compiles(), 2u);
  EXPECT_NE(fn.last_recompile_reason().find("input 0 shape changed"), std::string::npos);
  EXPECT_EQ(fn.last_executable().num_captures(), 1);
  EXPECT_LE(test::max_rel_error(small, (*net)(batch_x(4, 2).to(cuda))), 1e-5);
}

// Eval graphs fold batch norm into the convolutions and fuse the epilogues on the GPU too.
TEST(CudaGraphMode, ResnetEvalGraphFoldsAndMatchesEager) {
  DUET_REQUIRE_CUDA();
  Generator gen(13);
  auto net = models::resnet18(10, gen);
  net->to(cuda);
  net->eval();
  const Tensor xs = Tensor::randn({2, 3, 64, 64}, gen).to(cuda);
  Tensor eager = (*net)(xs);
  Graph g;
  Tensor x = g.input("x", {2, 3, 64, 64}, float32, cuda);
  Executable exe = compile(g, {(*net)(x)});
  EXPECT_EQ(exe.dump().find("batch_norm"), std::string::npos) << exe.dump();
  EXPECT_NE(exe.dump().find("conv2d_fused"), std::string::npos);
  Tensor out;
  for (int i = 0; i < 3; ++i) out = exe.run({{"x", xs}})[0];
  EXPECT_EQ(exe.num_captures(), 1);
  EXPECT_LE(test::max_rel_error(out, eager), 1e-4);
  EXPECT_GT(exe.memory_report().derived, 0);  // folded weights, computed once
}

}  // namespace
}  // namespace duet
