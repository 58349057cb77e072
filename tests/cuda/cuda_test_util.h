// Helpers for the CUDA tests (ctest label `cuda`): skip without a device, and compare an
// op's CUDA forward and backward with its CPU result.
//
//   TEST(CudaRelu, MatchesCpu) {
//     DUET_REQUIRE_CUDA();
//     Generator gen(1);
//     auto x = Tensor::randn({4, 5}, gen).requires_grad_();
//     expect_cuda_matches_cpu("relu", [](const auto& in) { return std::vector{relu(in[0])}; },
//                             {x}, 1e-6);
//   }
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "duet/cuda.h"
#include "duet/duet.h"

// Skips the test, with the reason (no backend library, no driver, no device), when no CUDA
// device can run it.
#define DUET_REQUIRE_CUDA()                                                           \
  do {                                                                                \
    if (!::duet::cuda_available()) GTEST_SKIP() << ::duet::cuda_unavailable_reason(); \
  } while (0)

namespace duet::test {

using OpFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

// max |actual - expected| / max |expected| over finite values (|expected| floored at 1e-30);
// NaN and +-inf must appear at the same positions (else: infinity). Both tensors are copied
// to the host. Shapes must match (checked with a gtest failure).
double max_rel_error(const Tensor& actual, const Tensor& expected);

// A CPU leaf that requires grad, from Generator(seed): uniform in [lo, hi), or N(0, 1).
Tensor uniform_leaf(const Shape& shape, uint64_t seed, DType dt = float32, double lo = -1,
                    double hi = 1);
Tensor normal_leaf(const Shape& shape, uint64_t seed, DType dt = float32);

// Runs f on `cpu_inputs` and on their copies on duet::cuda, then compares every output and,
// for inputs that require grad, the gradient of sum_k(sum(out_k * r_k)) with fixed random
// r_k (same values on both devices). Each comparison must satisfy max_rel_error <= rtol.
// Integer outputs must match exactly. `what` names the case in failure messages.
void expect_cuda_matches_cpu(const std::string& what, const OpFn& f,
                             const std::vector<Tensor>& cpu_inputs, double rtol);

}  // namespace duet::test
