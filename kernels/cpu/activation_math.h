// The activation formulas of kernels/activations.h for the CPU kernels: one struct per
// formula (relu_act<T>, ...), whose functions take a scalar or an Eigen array expression, and
// the block size the array formulas run on. The activation kernels and the fused epilogue
// (fused_kernels.cpp) both run them on the same 2048-element blocks, so fused results equal
// unfused ones bit for bit (Eigen's SIMD math and its scalar tail split each block the same
// way).
#pragma once

// GCC 12 reports false "__Y may be used uninitialized" warnings inside its own AVX-512
// intrinsics when Eigen's SIMD math is inlined (GCC bug 105593, fixed in GCC 13).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <unsupported/Eigen/SpecialFunctions>

#include "activations.h"
#include "core/parallel.h"
#include "cpu/elementwise_kernels.h"

namespace duet::cpu_kernels {

// Elements per block of an array formula.
inline constexpr int64_t kActBlock = 2048;
template <class T>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

// The math:: of the formulas: std:: on scalars, Eigen's on array expressions.
namespace act_math {
#define DUET_ACT_MATH_FN(fn)                               \
  template <class X>                                       \
  inline auto fn(const X& x) {                             \
    if constexpr (std::is_floating_point_v<X>) {           \
      return std::fn(x);                                   \
    } else {                                               \
      return x.fn();                                       \
    }                                                      \
  }
DUET_ACT_MATH_FN(exp)
DUET_ACT_MATH_FN(log)
DUET_ACT_MATH_FN(log1p)
DUET_ACT_MATH_FN(tanh)
DUET_ACT_MATH_FN(erf)
#undef DUET_ACT_MATH_FN
}  // namespace act_math

// f(i0, len) for each kActBlock-element block of [0, n), in parallel when n is large.
template <class F>
void for_each_block(int64_t n, const F& f) {
  const int64_t blocks = (n + kActBlock - 1) / kActBlock;
  parallel::parallel_for_if(n > kParallelGrain / 4, 0, blocks, [&](int64_t lo, int64_t hi) {
    for (int64_t b = lo; b < hi; ++b) {
      const int64_t i0 = b * kActBlock;
      f(i0, std::min(kActBlock, n - i0));
    }
  });
}

template <class E>
struct is_const_array_map : std::false_type {};
template <class T>
struct is_const_array_map<ConstArrayMap<T>> : std::true_type {};

// An array formula's `let` value, evaluated once per block (a view when it is the saved
// tensor itself).
template <class E>
inline auto materialize(const E& e) {
  if constexpr (is_const_array_map<E>::value) {
    return e;
  } else {
    return e.eval();
  }
}

namespace act {
namespace math = act_math;
#define DUET_ACT_FN inline
DUET_ACTIVATION_VARIANTS(DUET_DEFINE_ACTIVATION_FORMULAS)
DUET_ACTIVATIONS(DUET_DEFINE_ACTIVATION_FORMULAS)
#undef DUET_ACT_FN
DUET_DEFINE_ACTIVATION_VISIT
}  // namespace act

}  // namespace duet::cpu_kernels
