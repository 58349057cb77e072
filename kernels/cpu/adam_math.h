// The Adam/AdamW element update, shared by adam_step_ and the fused gradient+update kernel so
// both compute bit-identical parameters.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "ops/op_def.h"

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

// Updates p, m, v at [begin, end) from g (indexed the same way; g may point at a block
// buffer with g[i - begin] when g_offset == begin). Parallel over the range when `parallel`.
template <class T>
void adam_update(T* p, const T* g, T* m, T* v, int64_t begin, int64_t end, int64_t g_offset,
                 const AdamCoeffs& c, bool parallel) {
  const T decay = static_cast<T>(1.0 - c.lr * c.weight_decay);  // AdamW
  const T wd = static_cast<T>(c.weight_decay);                  // Adam (L2)
  const T w1 = static_cast<T>(1.0 - c.beta1), b2 = static_cast<T>(c.beta2);
  const T w2 = static_cast<T>(1.0 - c.beta2);
  const T bc2_sqrt = static_cast<T>(c.bias_correction2_sqrt);
  const T eps = static_cast<T>(c.eps);
  const T neg_step_size = static_cast<T>(-c.step_size);
  const T* gb = g - g_offset;
  // The branches are hoisted out of the loop (one instantiation per case) so it vectorises.
  auto run = [&](auto decoupled_c, auto l2_c, auto lerp_low_c) {
    constexpr bool kDecoupled = decltype(decoupled_c)::value;
    constexpr bool kL2 = decltype(l2_c)::value;
    constexpr bool kLerpLow = decltype(lerp_low_c)::value;
    auto element = [&](int64_t i) {
      T pi = p[i], gi = gb[i];
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
    };
    if (parallel) {
#pragma omp parallel for simd schedule(static)
      for (int64_t i = begin; i < end; ++i) element(i);
    } else {  // no parallel construct at all: callers may already be inside one
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) element(i);
    }
  };
  using Y = std::true_type;
  using N = std::false_type;
  const bool lerp_low = w1 < T(0.5);
  if (c.decoupled) {
    lerp_low ? run(Y{}, N{}, Y{}) : run(Y{}, N{}, N{});
  } else if (wd != T(0)) {
    lerp_low ? run(N{}, Y{}, Y{}) : run(N{}, Y{}, N{});
  } else {
    lerp_low ? run(N{}, N{}, Y{}) : run(N{}, N{}, N{});
  }
}

}  // namespace duet::cpu_kernels
