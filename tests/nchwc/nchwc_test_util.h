// What the blocked-layout kernel tests (tests/nchwc/) share: the kernel paths to run, a scope
// that forces one, random tensors, and reference reorders written as plain loops over the layout
// of kernels/nchwc_kernels.h (so a test of a conv or a pool does not depend on the reorder
// kernels it is not about).
//
//   for (simd::Isa isa : nchwc_test::isas()) {
//     nchwc_test::IsaGuard guard(isa);
//     Tensor yb = run_kernel(nchwc_test::to_blocked(x, /*pad=*/3.0));
//     expect_close(nchwc_test::from_blocked(yb, c), reference);
//   }
#pragma once

#include <cstdint>
#include <vector>

#include "duet/duet.h"

namespace duet::nchwc_test {

inline constexpr int64_t B = 16;

// The kernel paths of this CPU: generic, plus AVX-512 where it has it.
inline std::vector<simd::Isa> isas() {
  std::vector<simd::Isa> r{simd::Isa::generic};
  if (simd::best_isa() == simd::Isa::avx512) r.push_back(simd::Isa::avx512);
  return r;
}

// Forces a kernel path and restores the default when the scope ends, however it ends.
struct IsaGuard {
  explicit IsaGuard(simd::Isa isa) { simd::set_kernel_isa(isa); }
  ~IsaGuard() { simd::reset_kernel_isa(); }
  IsaGuard(const IsaGuard&) = delete;
  IsaGuard& operator=(const IsaGuard&) = delete;
};

inline Tensor randn(const Shape& s, uint64_t seed, DType dt) {
  Generator g(seed);
  return Tensor::randn(s, g, dt);
}

// x (N, C, H, W) -> (N, Cb, H, W, 16), padding channels `pad` (finite garbage, or 0).
inline Tensor to_blocked(const Tensor& x, double pad = 0.0) {
  const Shape& s = x.shape();
  const int64_t n = s[0], c = s[1], hw = s[2] * s[3], cb = (c + B - 1) / B;
  const std::vector<double> v = x.to_vector<double>();
  std::vector<double> out(static_cast<size_t>(n * cb * hw * B), pad);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < hw; ++p)
        out[static_cast<size_t>(((i * cb + ch / B) * hw + p) * B + ch % B)] =
            v[static_cast<size_t>((i * c + ch) * hw + p)];
  return Tensor::from_vector(out, {n, cb, s[2], s[3], B}, x.dtype());
}

// y (N, Cb, H, W, 16) -> (N, C, H, W): the first c channels.
inline Tensor from_blocked(const Tensor& y, int64_t c) {
  const Shape& s = y.shape();
  const int64_t n = s[0], cb = s[1], hw = s[2] * s[3];
  const std::vector<double> v = y.to_vector<double>();
  std::vector<double> out(static_cast<size_t>(n * c * hw));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < hw; ++p)
        out[static_cast<size_t>((i * c + ch) * hw + p)] =
            v[static_cast<size_t>(((i * cb + ch / B) * hw + p) * B + ch % B)];
  return Tensor::from_vector(out, {n, c, s[2], s[3]}, y.dtype());
}

}  // namespace duet::nchwc_test
