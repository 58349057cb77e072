// Batch norm (batch_norm_train / _backward, channel_affine, running_stat_update_, the public
// batch_norm and nn::BatchNorm2d) and pooling (max with indices, its backward and gather,
// avg, adaptive avg) on CUDA against the CPU kernels, forward and backward, float32 and
// float64.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "cuda_test_util.h"
#include "duet/cuda.h"
#include "duet/duet.h"
#include "duet/nn/norm.h"

using namespace duet;
using namespace duet::test;

namespace {

Tensor randn(const Shape& s, uint64_t seed, DType dt) {
  Generator g(seed);
  return Tensor::randn(s, g, dt);
}

// Statistics accumulate in double on both devices; float32 differs by rounding only.
double tol(DType dt) {
  return dt == float64 ? 1e-10 : 1e-5;
}

const std::vector<Shape>& bn_shapes() {
  static const std::vector<Shape> s{
      {4, 3, 5, 6},     // small
      {8, 5},           // (N, C)
      {4, 3, 7},        // (N, C, L)
      {64, 4, 32, 32},  // several slices per channel
      {3, 6, 1, 1},     // one value per image
      {2, 130, 7, 7},   // many channels
  };
  return s;
}

}  // namespace

// ---- batch norm ---------------------------------------------------------------------------

TEST(CudaBatchNorm, TrainOpMatchesCpu) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {float32, float64}) {
    uint64_t seed = 1;
    for (const Shape& s : bn_shapes()) {
      const int64_t c = s[1];
      expect_cuda_matches_cpu(
          "batch_norm_train " + shape_str(s) + " " + dtype_name(dt),
          [](const std::vector<Tensor>& t) { return batch_norm_train(t[0], t[1], t[2], 1e-5); },
          {randn(s, seed++, dt).requires_grad_(), randn({c}, seed++, dt).requires_grad_(),
           randn({c}, seed++, dt).requires_grad_()},
          tol(dt));
    }
  }
}

// A large mean against a small spread: the statistics must not lose the variance.
TEST(CudaBatchNorm, LargeMeanSmallVariance) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {float32, float64}) {
    Tensor x = add(mul(randn({16, 3, 8, 8}, 10, dt), 0.01), 100.0).detach();
    expect_cuda_matches_cpu(
        std::string("batch_norm_train offset ") + dtype_name(dt),
        [](const std::vector<Tensor>& t) { return batch_norm_train(t[0], t[1], t[2], 1e-5); },
        {x.requires_grad_(), Tensor::ones({3}, dt).requires_grad_(),
         Tensor::zeros({3}, dt).requires_grad_()},
        dt == float64 ? 1e-8 : 1e-4);
  }
}

TEST(CudaBatchNorm, BackwardOpMatchesCpu) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {float32, float64}) {
    uint64_t seed = 50;
    for (const Shape& s : bn_shapes()) {
      const int64_t c = s[1];
      const Tensor x = randn(s, seed++, dt), w = randn({c}, seed++, dt);
      const Tensor gy = randn(s, seed++, dt);
      const std::vector<Tensor> st = batch_norm_train(x, w, Tensor::zeros({c}, dt), 1e-3);
      std::vector<Tensor> cpu_out = batch_norm_backward(gy, x, w, st[1], st[2]);
      std::vector<Tensor> gpu_out =
          batch_norm_backward(gy.to(cuda), x.to(cuda), w.to(cuda), st[1].to(cuda), st[2].to(cuda));
      for (int i = 0; i < 3; ++i) {
        SCOPED_TRACE("batch_norm_backward " + shape_str(s) + " output " + std::to_string(i));
        ASSERT_EQ(gpu_out[i].device(), cuda);
        EXPECT_LE(max_rel_error(gpu_out[i], cpu_out[i]), tol(dt));
      }
    }
  }
}

TEST(CudaBatchNorm, PublicTrainingAndEvalMatchCpu) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {float32, float64}) {
    const int64_t c = 5;
    const Tensor x = randn({6, c, 4, 3}, 70, dt);
    const Tensor w = randn({c}, 71, dt), b = randn({c}, 72, dt);
    // training, affine and not
    expect_cuda_matches_cpu(
        std::string("batch_norm training ") + dtype_name(dt),
        [](const std::vector<Tensor>& t) {
          return std::vector{batch_norm(t[0], t[1], t[2], Tensor(), Tensor(), true)};
        },
        {x.detach().requires_grad_(), w.detach().requires_grad_(), b.detach().requires_grad_()},
        tol(dt));
    expect_cuda_matches_cpu(
        std::string("batch_norm training, no affine ") + dtype_name(dt),
        [](const std::vector<Tensor>& t) {
          return std::vector{batch_norm(t[0], Tensor(), Tensor(), Tensor(), Tensor(), true)};
        },
        {x.detach().requires_grad_()}, tol(dt));
    // eval: scale / shift from the running statistics, then channel_affine
    const Tensor rm = randn({c}, 73, dt), rv = add(mul(randn({c}, 74, dt), 0.1), 1.0).detach();
    expect_cuda_matches_cpu(
        std::string("batch_norm eval ") + dtype_name(dt),
        [](const std::vector<Tensor>& t) {
          return std::vector{batch_norm(t[0], t[1], t[2], t[3], t[4], false)};
        },
        {x.detach().requires_grad_(), w.detach().requires_grad_(), b.detach().requires_grad_(), rm,
         rv},
        tol(dt));
  }
}

TEST(CudaBatchNorm, RunningStatisticsMatchCpu) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {float32, float64}) {
    const int64_t c = 4;
    const Tensor rm_cpu = randn({c}, 80, dt), rv_cpu = Tensor::ones({c}, dt);
    const Tensor rm_gpu = rm_cpu.clone().to(cuda), rv_gpu = rv_cpu.clone().to(cuda);
    for (int step = 0; step < 3; ++step) {
      const Tensor x = randn({5, c, 3, 3}, 81 + step, dt);
      const Tensor y_cpu = batch_norm(x, Tensor(), Tensor(), rm_cpu, rv_cpu, true, 0.3);
      const Tensor y_gpu = batch_norm(x.to(cuda), Tensor(), Tensor(), rm_gpu, rv_gpu, true, 0.3);
      EXPECT_LE(max_rel_error(y_gpu, y_cpu), tol(dt));
    }
    EXPECT_EQ(rm_gpu.device(), cuda);
    EXPECT_LE(max_rel_error(rm_gpu, rm_cpu), tol(dt));
    EXPECT_LE(max_rel_error(rv_gpu, rv_cpu), tol(dt));
    // running_stat_update_ on its own, with a correction factor
    const Tensor r_cpu = randn({7}, 90, dt), s = randn({7}, 91, dt);
    const Tensor r_gpu = r_cpu.clone().to(cuda);
    running_stat_update_(r_cpu, s, 0.25, 1.5);
    running_stat_update_(r_gpu, s.to(cuda), 0.25, 1.5);
    EXPECT_LE(max_rel_error(r_gpu, r_cpu), dt == float64 ? 1e-15 : 1e-7);
  }
}

TEST(CudaBatchNorm, ModuleTrainThenEvalMatchesCpu) {
  DUET_REQUIRE_CUDA();
  nn::BatchNorm2d cpu_bn(3), gpu_bn(3);
  gpu_bn.to(cuda);
  for (int step = 0; step < 2; ++step) {
    const Tensor x = randn({4, 3, 6, 6}, 95 + step, float32);
    EXPECT_LE(max_rel_error(gpu_bn.forward(x.to(cuda)), cpu_bn.forward(x)), 1e-5);
  }
  EXPECT_LE(max_rel_error(gpu_bn.running_mean, cpu_bn.running_mean), 1e-5);
  EXPECT_LE(max_rel_error(gpu_bn.running_var, cpu_bn.running_var), 1e-5);
  cpu_bn.eval();
  gpu_bn.eval();
  const Tensor x = randn({2, 3, 5, 5}, 99, float32);
  EXPECT_LE(max_rel_error(gpu_bn.forward(x.to(cuda)), cpu_bn.forward(x)), 1e-5);
}

TEST(CudaBatchNorm, ChannelAffineMatchesCpu) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {float32, float64}) {
    for (const Shape& s : {Shape{3, 4, 5, 2}, Shape{7, 6}}) {
      expect_cuda_matches_cpu(
          "channel_affine " + shape_str(s) + " " + dtype_name(dt),
          [](const std::vector<Tensor>& t) {
            return std::vector{channel_affine(t[0], t[1], t[2])};
          },
          {randn(s, 110, dt).requires_grad_(), randn({s[1]}, 111, dt).requires_grad_(),
           randn({s[1]}, 112, dt).requires_grad_()},
          dt == float64 ? 1e-14 : 1e-6);
    }
  }
}

// ---- pooling ------------------------------------------------------------------------------

namespace {

struct PoolCase {
  std::string name;
  Shape x;
  Pool2dOptions o;
};

std::vector<PoolCase> max_cases() {
  return {
      {"2x2", {2, 3, 8, 8}, {.kernel = {2, 2}}},
      {"2x2 odd input", {2, 3, 9, 7}, {.kernel = {2, 2}}},
      {"3x3 stride 2 pad 1 (ResNet)",
       {2, 4, 17, 17},
       {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}}},
      {"3x3 stride 2 ceil",
       {1, 2, 10, 10},
       {.kernel = {3, 3}, .stride = {2, 2}, .ceil_mode = true}},
      {"ceil and padding",
       {2, 2, 11, 8},
       {.kernel = {3, 2}, .stride = {2, 2}, .padding = {1, 1}, .ceil_mode = true}},
      {"dilated",
       {2, 3, 12, 12},
       {.kernel = {3, 3}, .stride = {1, 1}, .padding = {1, 1}, .dilation = {2, 2}}},
      {"overlapping stride 1", {2, 2, 6, 7}, {.kernel = {3, 3}, .stride = {1, 1}}},
      {"rank 3", {3, 8, 8}, {.kernel = {2, 2}}},
  };
}

std::vector<PoolCase> avg_cases() {
  return {
      {"2x2", {2, 3, 8, 8}, {.kernel = {2, 2}}},
      {"3x3 stride 1 pad 1", {2, 3, 7, 6}, {.kernel = {3, 3}, .stride = {1, 1}, .padding = {1, 1}}},
      {"pad, exclude pad",
       {2, 3, 7, 6},
       {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}, .count_include_pad = false}},
      {"ceil", {1, 2, 10, 11}, {.kernel = {3, 3}, .stride = {2, 2}, .ceil_mode = true}},
      {"ceil, pad, include pad",
       {2, 2, 9, 9},
       {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}, .ceil_mode = true}},
      {"ceil, pad, exclude pad",
       {2, 2, 9, 9},
       {.kernel = {3, 3},
        .stride = {2, 2},
        .padding = {1, 1},
        .ceil_mode = true,
        .count_include_pad = false}},
      {"rectangular", {2, 3, 8, 9}, {.kernel = {2, 3}, .stride = {2, 1}, .padding = {1, 1}}},
      {"rank 3", {3, 8, 8}, {.kernel = {4, 4}}},
  };
}

}  // namespace

TEST(CudaMaxPool, ForwardIndicesAndBackwardMatchCpu) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {float32, float64}) {
    uint64_t seed = 200;
    for (const PoolCase& c : max_cases()) {
      const Pool2dOptions o = c.o;
      expect_cuda_matches_cpu(
          c.name + " " + dtype_name(dt),
          [o](const std::vector<Tensor>& t) { return max_pool2d_with_indices(t[0], o); },
          {randn(c.x, seed++, dt).requires_grad_()}, dt == float64 ? 1e-14 : 1e-6);
    }
  }
}

// Small integers: many ties, where the first maximum must win (as on the CPU).
TEST(CudaMaxPool, TiesPickTheFirstMaximum) {
  DUET_REQUIRE_CUDA();
  std::vector<double> v(2 * 3 * 9 * 9);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>((i * 37 + i / 5) % 3);
  const Tensor x = Tensor::from_vector(v, {2, 3, 9, 9});
  const Pool2dOptions o{.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}};
  const std::vector<Tensor> ref = max_pool2d_with_indices(x, o);
  const std::vector<Tensor> got = max_pool2d_with_indices(x.to(cuda), o);
  EXPECT_EQ(got[0].to(cpu).to_vector<float>(), ref[0].to_vector<float>());
  EXPECT_EQ(got[1].to(cpu).to_vector<int64_t>(), ref[1].to_vector<int64_t>());
}

TEST(CudaMaxPool, NanWins) {
  DUET_REQUIRE_CUDA();
  const Tensor x = Tensor::from_vector({1, NAN, 3, 4, 5, 6, NAN, 8, 9}, {1, 1, 3, 3});
  const Pool2dOptions o{.kernel = {2, 2}, .stride = {1, 1}};
  const std::vector<Tensor> ref = max_pool2d_with_indices(x, o);
  const std::vector<Tensor> got = max_pool2d_with_indices(x.to(cuda), o);
  EXPECT_EQ(got[1].to(cpu).to_vector<int64_t>(), ref[1].to_vector<int64_t>());
  EXPECT_EQ(max_rel_error(got[0], ref[0]), 0.0);
}

// The backward op and its partner, the gather (max_pool2d's double backward).
TEST(CudaMaxPool, BackwardAndGatherOpsMatchCpu) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {float32, float64}) {
    const Pool2dOptions o{.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}};
    const Tensor x = randn({2, 3, 11, 11}, 300, dt);
    const Tensor idx = max_pool2d_with_indices(x, o)[1];
    const Tensor go = randn(idx.shape(), 301, dt);
    const Shape xs = x.shape();
    expect_cuda_matches_cpu(
        std::string("max_pool2d_backward ") + dtype_name(dt),
        [xs](const std::vector<Tensor>& t) {
          return std::vector{max_pool2d_backward(t[0], t[1], xs)};
        },
        {go.detach().requires_grad_(), idx}, dt == float64 ? 1e-14 : 1e-6);
    expect_cuda_matches_cpu(
        std::string("max_pool2d_gather ") + dtype_name(dt),
        [](const std::vector<Tensor>& t) { return std::vector{max_pool2d_gather(t[0], t[1])}; },
        {x.detach().requires_grad_(), idx}, dt == float64 ? 1e-14 : 1e-6);
  }
}

// With the deterministic option the scatter adds in the CPU kernel's order: identical bits.
TEST(CudaMaxPool, DeterministicBackwardIsBitIdenticalToCpu) {
  DUET_REQUIRE_CUDA();
  const bool was = cuda_deterministic();
  set_cuda_deterministic(true);
  const Pool2dOptions o{.kernel = {3, 3}, .stride = {1, 1}, .padding = {1, 1}};
  const Tensor x = randn({2, 4, 10, 10}, 310, float32);
  const Tensor idx = max_pool2d_with_indices(x, o)[1];
  const Tensor go = randn(idx.shape(), 311, float32);
  const Tensor ref = max_pool2d_backward(go, idx, x.shape());
  const Tensor got = max_pool2d_backward(go.to(cuda), idx.to(cuda), x.shape());
  set_cuda_deterministic(was);
  EXPECT_EQ(got.to(cpu).to_vector<float>(), ref.to_vector<float>());
}

TEST(CudaAvgPool, ForwardAndBackwardMatchCpu) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {float32, float64}) {
    uint64_t seed = 400;
    for (const PoolCase& c : avg_cases()) {
      const Pool2dOptions o = c.o;
      expect_cuda_matches_cpu(
          c.name + " " + dtype_name(dt),
          [o](const std::vector<Tensor>& t) { return std::vector{avg_pool2d(t[0], o)}; },
          {randn(c.x, seed++, dt).requires_grad_()}, dt == float64 ? 1e-14 : 1e-6);
      // the backward op on its own (its gradient is avg_pool2d again)
      const Shape xs = c.x;
      const Shape ys = avg_pool2d(Tensor::zeros(c.x, dt), o).shape();
      expect_cuda_matches_cpu(
          c.name + " backward " + dtype_name(dt),
          [o, xs](const std::vector<Tensor>& t) {
            return std::vector{avg_pool2d_backward(t[0], xs, o)};
          },
          {randn(ys, seed++, dt).requires_grad_()}, dt == float64 ? 1e-14 : 1e-6);
    }
  }
}

TEST(CudaAdaptiveAvgPool, ForwardAndBackwardMatchCpu) {
  DUET_REQUIRE_CUDA();
  struct Case {
    Shape x;
    std::array<int64_t, 2> out;
  };
  const std::vector<Case> cases{
      {{2, 3, 7, 7}, {1, 1}},    // global pool of a small map
      {{2, 4, 32, 32}, {1, 1}},  // global pool of a large map (one warp per output)
      {{2, 3, 7, 7}, {3, 3}},    // non-divisible
      {{2, 3, 10, 13}, {4, 5}},  // non-divisible, rectangular
      {{1, 2, 3, 3}, {5, 4}},    // larger output than input (overlapping windows)
      {{2, 2, 40, 24}, {2, 3}},  // large windows, several outputs
      {{3, 6, 6}, {2, 2}},       // rank 3
  };
  for (DType dt : {float32, float64}) {
    uint64_t seed = 500;
    for (const Case& c : cases) {
      const std::array<int64_t, 2> out = c.out;
      const std::string name = shape_str(c.x) + " -> " + std::to_string(out[0]) + "x" +
                               std::to_string(out[1]) + " " + dtype_name(dt);
      expect_cuda_matches_cpu(
          "adaptive_avg_pool2d " + name,
          [out](const std::vector<Tensor>& t) {
            return std::vector{adaptive_avg_pool2d(t[0], out)};
          },
          {randn(c.x, seed++, dt).requires_grad_()}, dt == float64 ? 1e-14 : 1e-6);
      const Shape xs = c.x;
      Shape ys = c.x;
      ys[ys.size() - 2] = out[0];
      ys[ys.size() - 1] = out[1];
      expect_cuda_matches_cpu(
          "adaptive_avg_pool2d_backward " + name,
          [xs](const std::vector<Tensor>& t) {
            return std::vector{adaptive_avg_pool2d_backward(t[0], xs)};
          },
          {randn(ys, seed++, dt).requires_grad_()}, dt == float64 ? 1e-14 : 1e-6);
    }
  }
}
