// conv2d, its backward ops and conv2d_fused on CUDA (cuDNN) against the CPU kernels, forward
// and backward: plain, strided, padded, dilated, grouped, depthwise, 1x1, 7x7 / stride 2,
// rectangular; float32 and float64. Also: the algorithm cache searches once per shape, the
// deterministic option gives bit-identical weight gradients, and fp32 stays fp32 (no TF32).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/device_backend.h"
#include "cuda_test_util.h"
#include "duet/cuda.h"
#include "duet/duet.h"

using namespace duet;
using namespace duet::test;

namespace {

// float32 through cuDNN (FFT / Winograd algorithms included) against the CPU GEMM path;
// float64 is exact to rounding.
double tol(DType dt) {
  return dt == float64 ? 1e-10 : 2e-4;
}

struct ConvCase {
  std::string name;
  Shape x, w;
  Conv2dOptions opts;
  bool bias = true;
};

std::vector<ConvCase> conv_cases() {
  return {
      {"plain 3x3", {2, 3, 8, 8}, {4, 3, 3, 3}, {.padding = {1, 1}}},
      {"no padding, no bias", {2, 3, 7, 9}, {5, 3, 3, 3}, {}, false},
      {"strided", {2, 4, 9, 9}, {6, 4, 3, 3}, {.stride = {2, 2}, .padding = {1, 1}}},
      {"uneven stride and padding",
       {1, 3, 10, 11},
       {4, 3, 3, 3},
       {.stride = {1, 2}, .padding = {2, 0}}},
      {"dilated", {2, 3, 12, 12}, {4, 3, 3, 3}, {.padding = {2, 2}, .dilation = {2, 2}}},
      {"dilated and strided",
       {2, 2, 13, 11},
       {3, 2, 3, 2},
       {.stride = {2, 1}, .padding = {1, 1}, .dilation = {2, 3}}},
      {"grouped", {2, 4, 7, 7}, {6, 2, 3, 3}, {.padding = {1, 1}, .groups = 2}},
      {"grouped x4",
       {2, 8, 6, 6},
       {8, 2, 3, 3},
       {.stride = {2, 2}, .padding = {1, 1}, .groups = 4}},
      {"depthwise", {2, 8, 9, 9}, {8, 1, 3, 3}, {.padding = {1, 1}, .groups = 8}},
      {"depthwise strided x2",
       {2, 4, 10, 10},
       {8, 1, 5, 5},
       {.stride = {2, 2}, .padding = {2, 2}, .groups = 4}},
      {"pointwise 1x1", {4, 16, 5, 5}, {8, 16, 1, 1}, {}},
      {"1x1 stride 2", {2, 8, 8, 8}, {12, 8, 1, 1}, {.stride = {2, 2}}, false},
      {"7x7 stride 2", {2, 3, 32, 32}, {8, 3, 7, 7}, {.stride = {2, 2}, .padding = {3, 3}}, false},
      {"rectangular 3x5", {2, 3, 9, 12}, {4, 3, 3, 5}, {.padding = {1, 2}}},
      {"deeper", {4, 32, 14, 14}, {32, 32, 3, 3}, {.padding = {1, 1}}},
  };
}

Tensor randn(const Shape& s, uint64_t seed, DType dt) {
  Generator g(seed);
  return Tensor::randn(s, g, dt);
}

}  // namespace

TEST(CudaConv, Conv2dForwardAndBackwardMatchCpu) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {float32, float64}) {
    uint64_t seed = 1;
    for (const ConvCase& c : conv_cases()) {
      std::vector<Tensor> in{randn(c.x, seed++, dt).requires_grad_(),
                             randn(c.w, seed++, dt).requires_grad_()};
      if (c.bias) in.push_back(randn({c.w[0]}, seed++, dt).requires_grad_());
      const Conv2dOptions o = c.opts;
      expect_cuda_matches_cpu(
          c.name + " " + dtype_name(dt),
          [o](const std::vector<Tensor>& t) {
            return std::vector{conv2d(t[0], t[1], t.size() > 2 ? t[2] : Tensor(), o)};
          },
          in, tol(dt));
    }
  }
}

// The backward ops as ops of their own (their gradients are the double-backward path).
TEST(CudaConv, BackwardOpsMatchCpu) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {float32, float64}) {
    uint64_t seed = 100;
    for (const ConvCase& c : conv_cases()) {
      const Conv2dOptions o = c.opts;
      const Shape ys = conv2d(Tensor::zeros(c.x, dt), Tensor::zeros(c.w, dt), Tensor(), o).shape();
      const Tensor go = randn(ys, seed++, dt).requires_grad_();
      const Tensor w = randn(c.w, seed++, dt).requires_grad_();
      const Tensor x = randn(c.x, seed++, dt).requires_grad_();
      const Shape xs = c.x, wsh = c.w;
      expect_cuda_matches_cpu(
          c.name + " backward_input " + dtype_name(dt),
          [o, xs](const std::vector<Tensor>& t) {
            return std::vector{conv2d_backward_input(t[0], t[1], xs, o)};
          },
          {go, w}, tol(dt));
      expect_cuda_matches_cpu(
          c.name + " backward_weight " + dtype_name(dt),
          [o, wsh](const std::vector<Tensor>& t) {
            return std::vector{conv2d_backward_weight(t[0], t[1], wsh, o)};
          },
          {go, x}, tol(dt));
    }
  }
}

TEST(CudaConv, EmptyBatch) {
  DUET_REQUIRE_CUDA();
  const Tensor x = Tensor::zeros({0, 3, 5, 5}, float32, cuda);
  const Tensor w = Tensor::ones({4, 3, 3, 3}, float32, cuda);
  EXPECT_EQ(conv2d(x, w, Tensor(), {.padding = {1, 1}}).shape(), (Shape{0, 4, 5, 5}));
  const Tensor gw = conv2d_backward_weight(Tensor::zeros({0, 4, 5, 5}, float32, cuda), x,
                                           {4, 3, 3, 3}, {.padding = {1, 1}});
  EXPECT_EQ(gw.to(cpu).to_vector<float>(), std::vector<float>(4 * 3 * 3 * 3, 0.0f));
}

TEST(CudaConv, FusedMatchesCpu) {
  DUET_REQUIRE_CUDA();
  const Conv2dOptions o{.stride = {1, 1}, .padding = {1, 1}};
  uint64_t seed = 200;
  for (DType dt : {float32, float64}) {
    for (const char* act : {"none", "relu", "relu6", "sigmoid", "silu", "hardswish"}) {
      for (int variant = 0; variant < 4; ++variant) {
        const bool bias = variant & 1, residual = variant & 2;
        std::vector<Tensor> in{randn({2, 4, 6, 6}, seed++, dt).requires_grad_(),
                               randn({5, 4, 3, 3}, seed++, dt).requires_grad_()};
        if (bias) in.push_back(randn({5}, seed++, dt).requires_grad_());
        // residual scaled so that relu6 / hardswish see both their clamps
        if (residual)
          in.push_back(mul(randn({2, 5, 6, 6}, seed++, dt), 3.0).detach().requires_grad_());
        const std::string a = act;
        expect_cuda_matches_cpu(
            a + (bias ? " bias" : "") + (residual ? " residual" : "") + " " + dtype_name(dt),
            [a, o, bias, residual](const std::vector<Tensor>& t) {
              const Tensor b = bias ? t[2] : Tensor();
              const Tensor r = residual ? t[bias ? 3 : 2] : Tensor();
              return std::vector{conv2d_fused(t[0], t[1], b, r, o, a)};
            },
            in, tol(dt));
      }
    }
  }
  // Grouped / strided fused conv, as MobileNet's and EfficientNet's blocks use it.
  for (DType dt : {float32, float64}) {
    const Conv2dOptions g{.stride = {2, 2}, .padding = {1, 1}, .groups = 8};
    expect_cuda_matches_cpu(
        std::string("depthwise fused silu ") + dtype_name(dt),
        [g](const std::vector<Tensor>& t) {
          return std::vector{conv2d_fused(t[0], t[1], t[2], Tensor(), g, "silu")};
        },
        {randn({2, 8, 9, 9}, 300, dt).requires_grad_(),
         randn({8, 1, 3, 3}, 301, dt).requires_grad_(), randn({8}, 302, dt).requires_grad_()},
        tol(dt));
  }
}

// cudnnFind runs once per shape key: a second call with the same shapes reuses the choice.
TEST(CudaConv, AlgorithmCacheSearchesOncePerShape) {
  DUET_REQUIRE_CUDA();
  static int64_t round = 0;  // a fresh shape on every run (--gtest_repeat)
  ++round;
  const Tensor x = randn({3, 5, 11 + round, 13}, 400, float32).to(cuda);
  const Tensor w = randn({7, 5, 3, 3}, 401, float32).to(cuda);
  const Conv2dOptions o{.padding = {1, 1}};
  const int64_t before = detail::cuda_conv_find_count();
  const Tensor y1 = conv2d(x, w, Tensor(), o);
  const int64_t after_first = detail::cuda_conv_find_count();
  EXPECT_EQ(after_first - before, 1);
  const Tensor y2 = conv2d(x, w, Tensor(), o);
  EXPECT_EQ(detail::cuda_conv_find_count(), after_first);
  EXPECT_EQ(y1.to(cpu).to_vector<float>(), y2.to(cpu).to_vector<float>());
  // Another key (a different stride) searches again, once.
  conv2d(x, w, Tensor(), {.stride = {2, 2}, .padding = {1, 1}});
  conv2d(x, w, Tensor(), {.stride = {2, 2}, .padding = {1, 1}});
  EXPECT_EQ(detail::cuda_conv_find_count(), after_first + 1);
  // The backward passes have keys of their own.
  const Tensor go = Tensor::ones(y1.shape(), float32, cuda);
  conv2d_backward_weight(go, x, w.shape(), o);
  conv2d_backward_weight(go, x, w.shape(), o);
  conv2d_backward_input(go, w, x.shape(), o);
  conv2d_backward_input(go, w, x.shape(), o);
  EXPECT_EQ(detail::cuda_conv_find_count(), after_first + 3);
}

namespace {
// Restores the deterministic setting when a test ends (even on failure).
struct DeterministicScope {
  bool was = cuda_deterministic();
  explicit DeterministicScope(bool on) { set_cuda_deterministic(on); }
  ~DeterministicScope() { set_cuda_deterministic(was); }
};
}  // namespace

TEST(CudaConv, DeterministicWeightGradientIsBitIdentical) {
  DUET_REQUIRE_CUDA();
  DeterministicScope det(true);
  // A large batch: the fastest weight-gradient algorithms would accumulate with atomics.
  const Tensor x = randn({32, 32, 28, 28}, 500, float32);
  const Tensor go = randn({32, 32, 28, 28}, 501, float32);
  const Conv2dOptions o{.padding = {1, 1}};
  const Tensor xd = x.to(cuda), god = go.to(cuda);
  const std::vector<float> a =
      conv2d_backward_weight(god, xd, {32, 32, 3, 3}, o).to(cpu).to_vector<float>();
  for (int rep = 0; rep < 3; ++rep) {
    const std::vector<float> b =
        conv2d_backward_weight(god, xd, {32, 32, 3, 3}, o).to(cpu).to_vector<float>();
    ASSERT_EQ(a, b) << "repetition " << rep;
  }
  const Tensor ref = conv2d_backward_weight(go, x, {32, 32, 3, 3}, o);
  EXPECT_LE(max_rel_error(Tensor::from_vector(a, {32, 32, 3, 3}), ref), 1e-4);
  // The input gradient too.
  const Tensor w = randn({32, 32, 3, 3}, 502, float32);
  const std::vector<float> gx1 =
      conv2d_backward_input(god, w.to(cuda), x.shape(), o).to(cpu).to_vector<float>();
  const std::vector<float> gx2 =
      conv2d_backward_input(god, w.to(cuda), x.shape(), o).to(cpu).to_vector<float>();
  EXPECT_EQ(gx1, gx2);
}

// TF32 is off by default: a float32 conv with a long reduction (K = 64 * 9) stays close to
// the float64 result (TF32's 10-bit mantissa would be off by ~1e-3).
TEST(CudaConv, Float32IsNotTf32ByDefault) {
  DUET_REQUIRE_CUDA();
  ASSERT_FALSE(cuda_allow_tf32());
  const Tensor x = randn({4, 64, 16, 16}, 600, float64);
  const Tensor w = randn({64, 64, 3, 3}, 601, float64);
  const Conv2dOptions o{.padding = {1, 1}};
  const Tensor ref = conv2d(x, w, Tensor(), o);
  const Tensor y = conv2d(x.to(float32).to(cuda), w.to(float32).to(cuda), Tensor(), o);
  EXPECT_LE(max_rel_error(y.to(cpu).to(float64), ref), 5e-5);
}
