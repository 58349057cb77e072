#include "unary_kernels.h"

#include <cmath>

#include "core/dtype_dispatch.h"
#include "cpu/elementwise_kernels.h"

namespace duet::cpu_kernels {

namespace math = ::std;  // the math:: of kernels/elementwise_ops.h

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

DUET_UNARY_OPS(DUET_UNARY_KERNEL)
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
