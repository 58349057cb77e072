#include "binary_kernels.h"

#include <limits>
#include <string_view>
#include <type_traits>

#include "core/dtype_dispatch.h"
#include "core/parallel.h"
#include "cpu/elementwise_kernels.h"

namespace duet::cpu_kernels {
namespace {

// Integer division is undefined in C++ for a zero divisor (x86 traps) and for MIN / -1; PyTorch
// raises on the first. Both are errors here, checked before any element is computed.
template <class T>
void check_integer_division(const char* op, const Tensor& a, const Tensor& b) {
  if (std::string_view(op) != "div") return;
  const T* pb = static_cast<const T*>(b.data_ptr());
  bool minus_one = false;
  for (int64_t i = 0; i < b.numel(); ++i) {
    DUET_CHECK(pb[i] != T(0), "div: integer division by zero (the divisor of shape ",
               shape_str(b.shape()), " holds 0 at flat index ", i, "; expected no zero divisor)");
    if constexpr (std::is_signed_v<T>) minus_one = minus_one || pb[i] == T(-1);
  }
  if constexpr (std::is_signed_v<T>) {
    if (!minus_one) return;
    const T* pa = static_cast<const T*>(a.data_ptr());
    for (int64_t i = 0; i < a.numel(); ++i)
      DUET_CHECK(pa[i] != std::numeric_limits<T>::min(), "div: ", pa[i],
                 " / -1 overflows (the dividend of shape ", shape_str(a.shape()),
                 " holds the smallest integer and the divisor -1; expected a representable "
                 "quotient)");
  }
}

}  // namespace

#define DUET_ARITH_KERNEL(name, expr)                                             \
  void name(const KernelArgs& k) {                                                \
    detail::dispatch_all(k.inputs[0].dtype(), #name, [&](auto tag) {              \
      using T = decltype(tag);                                                    \
      if constexpr (std::is_same_v<T, bool>) {                                    \
        throw Error(#name ": bool tensors are not supported (expected numbers)"); \
      } else {                                                                    \
        if constexpr (std::is_integral_v<T>)                                      \
          check_integer_division<T>(#name, k.inputs[0], k.inputs[1]);             \
        binary_map<T, T>(k.inputs[0], k.inputs[1], k.outputs[0],                  \
                         [](T x, T y) { return static_cast<T>(expr); });          \
      }                                                                           \
    });                                                                           \
  }

DUET_ARITH_OPS(DUET_ARITH_KERNEL)
#undef DUET_ARITH_KERNEL

#define DUET_COMPARE_KERNEL(name, expr)                                                           \
  void name(const KernelArgs& k) {                                                                \
    detail::dispatch_all(k.inputs[0].dtype(), #name, [&](auto tag) {                              \
      using T = decltype(tag);                                                                    \
      binary_map<T, bool>(k.inputs[0], k.inputs[1], k.outputs[0], [](T x, T y) { return expr; }); \
    });                                                                                           \
  }

DUET_COMPARE_OPS(DUET_COMPARE_KERNEL)
#undef DUET_COMPARE_KERNEL

void where(const KernelArgs& k) {
  const Tensor& c = k.inputs[0];
  const Tensor& a = k.inputs[1];
  const Tensor& b = k.inputs[2];
  const Tensor& out = k.outputs[0];
  const Shape& os = out.shape();
  const int64_t n = out.numel(), r = static_cast<int64_t>(os.size());
  const Shape sc = broadcast_strides(c, os), sa = broadcast_strides(a, os),
              sb = broadcast_strides(b, os);
  detail::dispatch_all(a.dtype(), "where", [&](auto tag) {
    using T = decltype(tag);
    const bool* pc = c.data<bool>();
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* po = out.data<T>();
    parallel::parallel_for_if(n > kParallelGrain, 0, n, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        int64_t rem = i, oc = 0, oa = 0, ob = 0;
        for (int64_t d = r - 1; d >= 0; --d) {
          const int64_t idx = rem % os[d];
          rem /= os[d];
          oc += idx * sc[d];
          oa += idx * sa[d];
          ob += idx * sb[d];
        }
        po[i] = pc[oc] ? pa[oa] : pb[ob];
      }
    });
  });
}

}  // namespace duet::cpu_kernels
