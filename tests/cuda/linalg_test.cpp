// CUDA matmul, linear and linear_fused (cuBLAS) against the CPU, forward and backward (label
// cuda; skipped without a device): vector, matrix, batched and broadcast-batch shapes,
// transposed and otherwise strided operands, empty products, bias or not, every fused
// activation, float32 and float64, and the TF32 switch.
#include <functional>
#include <string>
#include <vector>

#include "cuda_test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

// fp32 GEMMs sum in a different order than the CPU's: well inside 1e-5 of the largest value
// at these sizes. float64: likewise at 1e-12.
double tol(DType dt) {
  return dt == float64 ? 1e-12 : 1e-5;
}
OpFn matmul_fn() {
  return [](const std::vector<Tensor>& in) { return std::vector<Tensor>{matmul(in[0], in[1])}; };
}

// Restores the TF32 switch on scope exit.
struct Tf32Guard {
  bool saved = cuda_allow_tf32();
  ~Tf32Guard() { set_cuda_allow_tf32(saved); }
};

}  // namespace

TEST(CudaMatmul, ShapesMatchCpu) {
  DUET_REQUIRE_CUDA();
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{5}, {5}},                    // vector . vector -> ()
      {{3, 5}, {5}},                 // matrix @ vector
      {{5}, {5, 4}},                 // vector @ matrix
      {{3, 5}, {5, 4}},              // matrix
      {{2, 3, 5}, {2, 5, 4}},        // batched
      {{2, 3, 5}, {5, 4}},           // b shared: batch folded into M
      {{3, 5}, {2, 5, 4}},           // a shared: stride-0 batch
      {{2, 1, 3, 5}, {4, 5, 6}},     // broadcast batch (2, 4): both operands copied
      {{4, 1, 3, 5}, {1, 2, 5, 6}},  // broadcast batch (4, 2)
      {{2, 3, 5}, {5}},              // batched @ vector
      {{5}, {3, 5, 2}},              // vector @ batched
      {{1, 1}, {1, 1}},
      {{3, 0}, {0, 4}},       // K = 0: zeros
      {{0, 5}, {5, 4}},       // M = 0: empty
      {{2, 0, 5}, {5, 3}},    // empty batch rows
      {{33, 70}, {70, 129}},  // larger than one tile
  };
  for (DType dt : {float32, float64}) {
    for (const auto& [sa, sb] : cases) {
      expect_cuda_matches_cpu(
          "matmul " + shape_str(sa) + " @ " + shape_str(sb) + " " + dtype_name(dt), matmul_fn(),
          {uniform_leaf(sa, 1, dt), uniform_leaf(sb, 2, dt)}, tol(dt));
    }
  }
}

TEST(CudaMatmul, StridedOperandsMatchCpu) {
  DUET_REQUIRE_CUDA();
  using F = std::function<Tensor(const Tensor&, const Tensor&)>;
  const std::vector<std::tuple<std::string, Shape, Shape, F>> cases = {
      // transposed views: column-major operands (CUBLAS_OP_T), no copy
      {"a^T @ b",
       {5, 3},
       {5, 4},
       [](const Tensor& a, const Tensor& b) { return matmul(a.transpose(0, 1), b); }},
      {"a @ b^T",
       {3, 5},
       {4, 5},
       [](const Tensor& a, const Tensor& b) { return matmul(a, b.transpose(0, 1)); }},
      {"a^T @ b^T batched",
       {2, 5, 3},
       {2, 4, 5},
       [](const Tensor& a, const Tensor& b) {
         return matmul(a.transpose(1, 2), b.transpose(1, 2));
       }},
      {"batch-major permute",
       {3, 2, 5},
       {5, 4},  // a.permute: (2, 3, 5) with batch stride 5
       [](const Tensor& a, const Tensor& b) {
         return matmul(a.permute({1, 0, 2}), b);
       }},
      // every other column: neither rows nor columns unit-stride -> contiguous copy
      {"column slice",
       {3, 10},
       {5, 4},
       [](const Tensor& a, const Tensor& b) { return matmul(a.slice(1, 0, 10, 2), b); }},
      // a row of a matrix as a strided vector
      {"strided vector",
       {5, 3},
       {5, 4},
       [](const Tensor& a, const Tensor& b) {
         return matmul(a.transpose(0, 1).slice(0, 1, 2).squeeze(0), b);
       }},
      // an expanded (stride 0) matrix -> copy
      {"expanded rows",
       {1, 5},
       {5, 4},
       [](const Tensor& a, const Tensor& b) {
         return matmul(a.expand({3, 5}), b);
       }},
      // expanded batch dimension of stride 0 inside a batched operand
      {"expanded batch",
       {1, 3, 5},
       {4, 5, 2},
       [](const Tensor& a, const Tensor& b) {
         return matmul(a.expand({4, 3, 5}), b);
       }},
  };
  for (DType dt : {float32, float64}) {
    for (const auto& [name, sa, sb, f] : cases) {
      expect_cuda_matches_cpu(
          name + " " + dtype_name(dt),
          [f](const std::vector<Tensor>& in) { return std::vector<Tensor>{f(in[0], in[1])}; },
          {uniform_leaf(sa, 3, dt), uniform_leaf(sb, 4, dt)}, tol(dt));
    }
  }
}

TEST(CudaLinear, MatchesCpu) {
  DUET_REQUIRE_CUDA();
  // (in_features 0 is left out: the CPU's linear gradient cannot reshape (N, 0) to (-1, 0).)
  const std::vector<std::pair<Shape, int64_t>> cases = {
      {{4, 6}, 3}, {{6}, 3}, {{2, 3, 6}, 5}, {{0, 6}, 3}, {{17, 130}, 65}};
  for (DType dt : {float32, float64}) {
    for (const auto& [sx, out] : cases) {
      const int64_t in = sx.back();
      for (bool bias : {true, false}) {
        std::vector<Tensor> inputs = {uniform_leaf(sx, 5, dt), uniform_leaf({out, in}, 6, dt)};
        if (bias) inputs.push_back(uniform_leaf({out}, 7, dt));
        expect_cuda_matches_cpu(
            "linear " + shape_str(sx) + " -> " + std::to_string(out) + (bias ? " bias " : " ") +
                dtype_name(dt),
            [](const std::vector<Tensor>& in) {
              return std::vector<Tensor>{linear(in[0], in[1], in.size() > 2 ? in[2] : Tensor())};
            },
            inputs, tol(dt));
      }
    }
  }
}

TEST(CudaLinearFused, EveryActivationMatchesCpuAndUnfusedBits) {
  DUET_REQUIRE_CUDA();
  const std::vector<std::string> acts = {"none", "relu", "relu6", "sigmoid", "silu", "hardswish"};
  for (DType dt : {float32, float64}) {
    for (const std::string& act : acts) {
      for (bool bias : {true, false}) {
        // inputs scaled so relu6 and hardswish see both of their kinks' sides
        std::vector<Tensor> inputs = {uniform_leaf({2, 3, 9}, 8, dt), uniform_leaf({7, 9}, 9, dt)};
        if (bias) inputs.push_back(uniform_leaf({7}, 10, dt));
        auto f = [act](const std::vector<Tensor>& in) {
          Tensor x = mul(in[0], 4.0);
          return std::vector<Tensor>{linear_fused(x, in[1], in.size() > 2 ? in[2] : Tensor(), act)};
        };
        const std::string what =
            "linear_fused " + act + (bias ? " bias " : " ") + std::string(dtype_name(dt));
        expect_cuda_matches_cpu(what, f, inputs, tol(dt));

        // The fused op gives the unfused sequence's bits on the GPU (same GEMM, same
        // activation formulas).
        NoGradGuard no_grad;
        Tensor x = mul(inputs[0].detach(), 4.0).to(cuda), w = inputs[1].detach().to(cuda);
        Tensor b = bias ? inputs[2].detach().to(cuda) : Tensor();
        Tensor fused = linear_fused(x, w, b, act);
        Tensor y = linear(x, w, b);
        Tensor unfused = act == "none"      ? y
                         : act == "relu"    ? relu(y)
                         : act == "relu6"   ? relu6(y)
                         : act == "sigmoid" ? sigmoid(y)
                         : act == "silu"    ? silu(y)
                                            : hardswish(y);
        EXPECT_EQ(max_rel_error(fused, unfused), 0.0) << what;
      }
    }
  }
}

TEST(CudaMatmul, Tf32SwitchKeepsFp32ExactByDefault) {
  DUET_REQUIRE_CUDA();
  Tf32Guard guard;
  Tensor a = uniform_leaf({256, 384}, 11, float32), b = uniform_leaf({384, 320}, 12, float32);
  Tensor x = uniform_leaf({64, 384}, 13, float32), w = uniform_leaf({96, 384}, 14, float32);
  auto mm = matmul_fn();
  auto lin = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{linear(in[0], in[1])};
  };
  set_cuda_allow_tf32(false);
  EXPECT_FALSE(cuda_allow_tf32());
  expect_cuda_matches_cpu("matmul fp32 (TF32 off)", mm, {a, b}, 1e-5);
  expect_cuda_matches_cpu("linear fp32 (TF32 off)", lin, {x, w}, 1e-5);
  set_cuda_allow_tf32(true);
  // TF32 keeps 10 mantissa bits: ~1e-3 relative per product, well inside 1e-2 overall.
  expect_cuda_matches_cpu("matmul fp32 (TF32 on)", mm, {a, b}, 1e-2);
  expect_cuda_matches_cpu("linear fp32 (TF32 on)", lin, {x, w}, 1e-2);
  // float64 is never affected.
  expect_cuda_matches_cpu(
      "matmul fp64 (TF32 on)", mm,
      {uniform_leaf({64, 96}, 15, float64), uniform_leaf({96, 48}, 16, float64)}, 1e-12);
  set_cuda_allow_tf32(false);
  expect_cuda_matches_cpu("matmul fp32 (TF32 off again)", mm, {a, b}, 1e-5);
}
