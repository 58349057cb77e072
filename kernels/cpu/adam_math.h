// The Adam/AdamW element update, shared by adam_step_ and the fused gradient+update kernel so
// both compute bit-identical parameters.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "core/parallel.h"
#include "duet/attrs.h"

namespace duet::cpu_kernels {

// Scalars of one Adam step, from the op's attrs, the learning rate and the new step count.
struct AdamCoeffs {
  double lr, beta1, beta2, eps, weight_decay, step_size, bias_correction2_sqrt;
  bool decoupled;
};

inline AdamCoeffs adam_coeffs(const Attrs& a, double lr, int64_t step) {
  AdamCoeffs c;
  c.lr = lr;
  c.beta1 = a.f("beta1");
  c.beta2 = a.f("beta2");
  c.eps = a.f("eps");
  c.weight_decay = a.f("weight_decay");
  c.decoupled = a.b("decoupled");
  const double t = static_cast<double>(step);
  c.step_size = lr / (1.0 - std::pow(c.beta1, t));
  c.bias_correction2_sqrt = std::sqrt(1.0 - std::pow(c.beta2, t));
  return c;
}

// The per-element constants of one step, in T.
template <class T>
struct AdamConsts {
  T decay, wd, w1, b2, w2, bc2_sqrt, eps, neg_step_size;
};

// p, m, v at [begin, end), g at the same indices. The pointers are __restrict and the loop a
// plain function (not a lambda): with the lambda, GCC vectorised only the `parallel for
// simd` form and the serial `simd` loop ran 20x slower (measured).
template <class T, bool kDecoupled, bool kL2, bool kLerpLow>
void adam_range(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v,
                int64_t begin, int64_t end, const AdamConsts<T>& k) {
  const T decay = k.decay, wd = k.wd, w1 = k.w1, b2 = k.b2, w2 = k.w2;
  const T bc2_sqrt = k.bc2_sqrt, eps = k.eps, neg_step_size = k.neg_step_size;
#pragma omp simd
  for (int64_t i = begin; i < end; ++i) {
    T pi = p[i], gi = g[i];
    if constexpr (kDecoupled) pi = pi * decay;
    if constexpr (kL2) gi = gi + wd * pi;
    // exp_avg.lerp_(grad, 1 - beta1), with PyTorch's two-sided lerp formula.
    const T mo = m[i];
    const T mi = kLerpLow ? mo + w1 * (gi - mo) : gi - (gi - mo) * (T(1) - w1);
    const T vi = v[i] * b2 + w2 * (gi * gi);
    const T denom = std::sqrt(vi) / bc2_sqrt + eps;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi + neg_step_size * (mi / denom);
  }
}

// Updates p, m, v at [begin, end) from g (indexed the same way; g may point at a block
// buffer with g[i - begin] when g_offset == begin). Parallel over the range when `parallel`.
template <class T>
void adam_update(T* p, const T* g, T* m, T* v, int64_t begin, int64_t end, int64_t g_offset,
                 const AdamCoeffs& c, bool parallel) {
  const AdamConsts<T> k{static_cast<T>(1.0 - c.lr * c.weight_decay),  // AdamW
                        static_cast<T>(c.weight_decay),               // Adam (L2)
                        static_cast<T>(1.0 - c.beta1),
                        static_cast<T>(c.beta2),
                        static_cast<T>(1.0 - c.beta2),
                        static_cast<T>(c.bias_correction2_sqrt),
                        static_cast<T>(c.eps),
                        static_cast<T>(-c.step_size)};
  const T* gb = g - g_offset;
  // The branches are hoisted out of the loop (one instantiation per case) so it vectorises.
  auto run = [&](auto decoupled_c, auto l2_c, auto lerp_low_c) {
    constexpr bool kD = decltype(decoupled_c)::value;
    constexpr bool kL = decltype(l2_c)::value;
    constexpr bool kLow = decltype(lerp_low_c)::value;
    if (!parallel) return adam_range<T, kD, kL, kLow>(p, gb, m, v, begin, end, k);
    constexpr int64_t kChunk = 4096;  // elements per task: a multiple of the vector width
    const int64_t chunks = (end - begin + kChunk - 1) / kChunk;
    parallel::parallel_for(0, chunks, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t ch = p0; ch < p1; ++ch) {
        const int64_t lo = begin + ch * kChunk;
        adam_range<T, kD, kL, kLow>(p, gb, m, v, lo, std::min(end, lo + kChunk), k);
      }
    });
  };
  using Y = std::true_type;
  using N = std::false_type;
  const bool lerp_low = k.w1 < T(0.5);
  if (c.decoupled) {
    lerp_low ? run(Y{}, N{}, Y{}) : run(Y{}, N{}, N{});
  } else if (k.wd != T(0)) {
    lerp_low ? run(N{}, Y{}, Y{}) : run(N{}, Y{}, N{});
  } else {
    lerp_low ? run(N{}, N{}, Y{}) : run(N{}, N{}, N{});
  }
}

}  // namespace duet::cpu_kernels
