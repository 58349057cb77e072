// conv2d_fused (and conv2d with a bias) on CUDA through cudnnConvolutionBiasActivationForward:
// relu and identity with a bias, with and without a residual, match the CPU and take the
// cuDNN path (detail::cuda_conv_fused_count()); without a bias or with another activation
// they fall back to conv + our epilogue and still match.
//
// Tolerance: cuDNN adds act(conv + residual + bias) in its own order where our epilogue (and
// the CPU) compute act((conv + bias) + residual); that is a float rounding difference (about
// one ulp of the largest term), well inside the float32 bound of 2e-4 used for every conv.
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

double tol(DType dt) {
  return dt == float64 ? 1e-10 : 2e-4;
}

Tensor randn(const Shape& s, uint64_t seed, DType dt) {
  Generator g(seed);
  return Tensor::randn(s, g, dt);
}

// Fuses identity-activation convs whenever IMPLICIT_PRECOMP_GEMM is usable, for this scope.
struct FuseIdentityAlways {
  FuseIdentityAlways() { detail::set_cuda_conv_fuse_identity_always(true); }
  ~FuseIdentityAlways() { detail::set_cuda_conv_fuse_identity_always(false); }
};

struct FusedCase {
  const char* act;
  bool bias, residual;
};

// One forward call on the GPU; returns how many cuDNN fused calls it made (0 or 1) and
// checks it against the CPU (forward and gradients through expect_cuda_matches_cpu).
int64_t run_case(const FusedCase& c, DType dt, uint64_t seed, const Conv2dOptions& o,
                 const Shape& xs, const Shape& ws) {
  const Shape ys = conv2d(Tensor::zeros(xs, dt), Tensor::zeros(ws, dt), Tensor(), o).shape();
  std::vector<Tensor> in{randn(xs, seed, dt).requires_grad_(),
                         randn(ws, seed + 1, dt).requires_grad_()};
  if (c.bias) in.push_back(randn({ws[0]}, seed + 2, dt).requires_grad_());
  if (c.residual) in.push_back(mul(randn(ys, seed + 3, dt), 2.0).detach().requires_grad_());
  const std::string act = c.act;
  const bool bias = c.bias, residual = c.residual;
  const auto f = [act, o, bias, residual](const std::vector<Tensor>& t) {
    const Tensor b = bias ? t[2] : Tensor();
    const Tensor r = residual ? t[bias ? 3 : 2] : Tensor();
    return std::vector{conv2d_fused(t[0], t[1], b, r, o, act)};
  };
  const std::string what =
      act + (bias ? " bias" : "") + (residual ? " residual" : "") + " " + dtype_name(dt);
  expect_cuda_matches_cpu(what, f, in, tol(dt));
  std::vector<Tensor> gpu;
  for (const Tensor& t : in) gpu.push_back(t.detach().to(cuda));
  const int64_t before = detail::cuda_conv_fused_count();
  const Tensor y = f(gpu)[0];
  const int64_t fused = detail::cuda_conv_fused_count() - before;
  std::vector<Tensor> host;
  for (const Tensor& t : in) host.push_back(t.detach());
  EXPECT_LE(max_rel_error(y, f(host)[0]), tol(dt)) << what;
  return fused;
}

}  // namespace

TEST(CudaFusedConv, ReluWithBiasRunsInCudnn) {
  DUET_REQUIRE_CUDA();
  const Conv2dOptions o{.padding = {1, 1}};
  uint64_t seed = 10;
  for (bool residual : {false, true}) {
    EXPECT_EQ(run_case({"relu", true, residual}, float32, seed, o, {2, 4, 9, 9}, {6, 4, 3, 3}), 1)
        << "residual=" << residual;
    seed += 10;
  }
  // Strided and grouped, as ResNet's and MobileNet's blocks use it.
  EXPECT_EQ(run_case({"relu", true, true}, float32, 50, {.stride = {2, 2}, .padding = {1, 1}},
                     {2, 8, 10, 10}, {8, 8, 3, 3}),
            1);
  EXPECT_EQ(run_case({"relu", true, false}, float32, 60, {.padding = {1, 1}, .groups = 4},
                     {2, 8, 7, 7}, {8, 2, 3, 3}),
            1);
}

TEST(CudaFusedConv, IdentityWithBiasRunsInCudnnWithPrecompGemm) {
  DUET_REQUIRE_CUDA();
  FuseIdentityAlways force;
  const Conv2dOptions o{.padding = {1, 1}};
  for (bool residual : {false, true})
    EXPECT_EQ(
        run_case({"none", true, residual}, float32, 100 + residual, o, {2, 4, 8, 8}, {5, 4, 3, 3}),
        1)
        << "residual=" << residual;
  // conv2d with a bias is the identity case too.
  const Tensor x = randn({2, 3, 8, 8}, 120, float32), w = randn({4, 3, 3, 3}, 121, float32);
  const Tensor b = randn({4}, 122, float32);
  const int64_t before = detail::cuda_conv_fused_count();
  const Tensor y = conv2d(x.to(cuda), w.to(cuda), b.to(cuda), o);
  EXPECT_EQ(detail::cuda_conv_fused_count() - before, 1);
  EXPECT_LE(max_rel_error(y, conv2d(x, w, b, o)), tol(float32));
}

// Without forcing, identity fuses only when Find timed IMPLICIT_PRECOMP_GEMM close to the best
// algorithm: either path must give the CPU's values.
TEST(CudaFusedConv, IdentityEitherPathMatchesCpu) {
  DUET_REQUIRE_CUDA();
  const int64_t fused = run_case({"none", true, true}, float32, 150, {.padding = {1, 1}},
                                 {4, 16, 12, 12}, {16, 16, 3, 3});
  EXPECT_TRUE(fused == 0 || fused == 1);
}

TEST(CudaFusedConv, FallsBackWithoutBiasOrForOtherActivations) {
  DUET_REQUIRE_CUDA();
  FuseIdentityAlways force;  // even then: no bias, no fusion
  const Conv2dOptions o{.padding = {1, 1}};
  uint64_t seed = 200;
  for (const char* act : {"none", "relu"})
    for (bool residual : {false, true}) {
      EXPECT_EQ(run_case({act, false, residual}, float32, seed, o, {2, 4, 6, 6}, {5, 4, 3, 3}), 0)
          << act << " without bias";
      seed += 10;
    }
  for (const char* act : {"relu6", "sigmoid", "silu", "hardswish"})
    for (bool residual : {false, true}) {
      EXPECT_EQ(run_case({act, true, residual}, float32, seed, o, {2, 4, 6, 6}, {5, 4, 3, 3}), 0)
          << act;
      seed += 10;
    }
}

// float64: cuDNN may or may not fuse double convs (a NOT_SUPPORTED is remembered per key and
// falls back); the values match the CPU either way, and a second call takes the same path.
TEST(CudaFusedConv, Float64MatchesCpuOnEitherPath) {
  DUET_REQUIRE_CUDA();
  const Conv2dOptions o{.padding = {1, 1}};
  for (bool residual : {false, true}) {
    const FusedCase c{"relu", true, residual};
    const int64_t first = run_case(c, float64, 300, o, {2, 3, 7, 7}, {4, 3, 3, 3});
    const int64_t second = run_case(c, float64, 300, o, {2, 3, 7, 7}, {4, 3, 3, 3});
    EXPECT_EQ(first, second) << "residual=" << residual;
  }
}

// The fused path is deterministic: the same inputs give bit-identical outputs.
TEST(CudaFusedConv, RepeatedCallsAreBitIdentical) {
  DUET_REQUIRE_CUDA();
  const Tensor x = randn({4, 8, 16, 16}, 400, float32).to(cuda);
  const Tensor w = randn({8, 8, 3, 3}, 401, float32).to(cuda);
  const Tensor b = randn({8}, 402, float32).to(cuda);
  const Tensor r = randn({4, 8, 16, 16}, 403, float32).to(cuda);
  const Conv2dOptions o{.padding = {1, 1}};
  const auto y1 = conv2d_fused(x, w, b, r, o, "relu").to(cpu).to_vector<float>();
  const auto y2 = conv2d_fused(x, w, b, r, o, "relu").to(cpu).to_vector<float>();
  EXPECT_EQ(y1, y2);
}
