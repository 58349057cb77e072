#include "cpu/unary_kernels.h"

#include <cmath>

#include "core/dtype_dispatch.h"
#include "cpu/elementwise_kernels.h"

namespace duet::cpu_kernels {

// Defines name(k): out = expr(x) for floating dtypes; `s` is the scalar attr when present.
#define DUET_UNARY_KERNEL(name, attr, expr)                                                  \
  void name(const KernelArgs& k) {                                                           \
    detail::dispatch_floating(k.inputs[0].dtype(), #name, [&](auto tag) {                    \
      using T = decltype(tag);                                                               \
      const T s = static_cast<T>(attr);                                                      \
      (void)s;                                                                               \
      unary_map<T, T>(k.inputs[0], k.outputs[0], [=](T x) { return static_cast<T>(expr); }); \
    });                                                                                      \
  }

DUET_UNARY_KERNEL(neg, 0, -x)
DUET_UNARY_KERNEL(exp, 0, std::exp(x))
DUET_UNARY_KERNEL(log, 0, std::log(x))
DUET_UNARY_KERNEL(sqrt, 0, std::sqrt(x))
DUET_UNARY_KERNEL(rsqrt, 0, T(1) / std::sqrt(x))
DUET_UNARY_KERNEL(abs, 0, std::abs(x))
DUET_UNARY_KERNEL(sign, 0, (x > T(0)) - (x < T(0)))
DUET_UNARY_KERNEL(add_scalar, k.attrs.f("value"), x + s)
DUET_UNARY_KERNEL(mul_scalar, k.attrs.f("value"), x* s)
DUET_UNARY_KERNEL(rsub_scalar, k.attrs.f("value"), s - x)
DUET_UNARY_KERNEL(rdiv_scalar, k.attrs.f("value"), s / x)
DUET_UNARY_KERNEL(pow_scalar, k.attrs.f("exponent"),
                  s == T(2) ? x * x : (s == T(1) ? x : std::pow(x, s)))
#undef DUET_UNARY_KERNEL

void clamp(const KernelArgs& k) {
  detail::dispatch_floating(k.inputs[0].dtype(), "clamp", [&](auto tag) {
    using T = decltype(tag);
    const T lo = static_cast<T>(k.attrs.f("lo")), hi = static_cast<T>(k.attrs.f("hi"));
    unary_map<T, T>(k.inputs[0], k.outputs[0],
                    [=](T x) { return x < lo ? lo : (x > hi ? hi : x); });
  });
}

void clamp_backward(const KernelArgs& k) {
  detail::dispatch_floating(k.inputs[0].dtype(), "clamp_backward", [&](auto tag) {
    using T = decltype(tag);
    const T lo = static_cast<T>(k.attrs.f("lo")), hi = static_cast<T>(k.attrs.f("hi"));
    binary_map<T, T>(k.inputs[0], k.inputs[1], k.outputs[0],
                     [=](T g, T x) { return x >= lo && x <= hi ? g : T(0); });
  });
}

}  // namespace duet::cpu_kernels
