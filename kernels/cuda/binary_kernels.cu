// CUDA kernels for broadcasting binary ops, comparisons and where: one functor per op on the
// generic launcher (elementwise.cuh), with the expressions of kernels/elementwise_ops.h and
// the dtypes of kernels/cpu/binary_kernels.cpp, plus float16 / bfloat16: the float32
// expression on the widened elements, rounded once (cuda/lowp.cuh), as the float32 round
// trip would give.
#include <type_traits>

#include "binary_kernels.h"
#include "core/dtype_dispatch.h"
#include "cuda/elementwise.cuh"
#include "cuda/lowp.cuh"

namespace duet::cuda_kernels {

#define DUET_CUDA_ARITH_KERNEL(name, expr)                                                    \
  namespace {                                                                                 \
  struct name##_f {                                                                           \
    template <class T>                                                                        \
    __device__ T operator()(T x, T y) const {                                                 \
      return static_cast<T>(expr);                                                            \
    }                                                                                         \
  };                                                                                          \
  }                                                                                           \
  void name(const KernelArgs& k) {                                                            \
    lowp::dispatch_all(k.inputs[0].dtype(), #name, [&](auto tag) {                            \
      using T = decltype(tag);                                                                \
      if constexpr (std::is_same_v<T, bool>) {                                                \
        throw Error(#name ": bool tensors are not supported (expected numbers)");             \
      } else if constexpr (lowp::is_low<T>) {                                                 \
        lowp::expect_dtype(k.inputs[0].dtype(), #name, k.inputs[1], k.outputs[0]);            \
        ew::binary<T, T, T>(k.inputs[0], k.inputs[1], k.outputs[0], lowp::Widen2<name##_f>{}, \
                            #name);                                                           \
      } else {                                                                                \
        ew::binary<T, T, T>(k.inputs[0], k.inputs[1], k.outputs[0], name##_f{}, #name);       \
      }                                                                                       \
    });                                                                                       \
  }

DUET_ARITH_OPS(DUET_CUDA_ARITH_KERNEL)
#undef DUET_CUDA_ARITH_KERNEL

#define DUET_CUDA_COMPARE_KERNEL(name, expr)                                                     \
  namespace {                                                                                    \
  struct name##_f {                                                                              \
    template <class T>                                                                           \
    __device__ bool operator()(T x, T y) const {                                                 \
      return expr;                                                                               \
    }                                                                                            \
  };                                                                                             \
  }                                                                                              \
  void name(const KernelArgs& k) {                                                               \
    lowp::dispatch_all(k.inputs[0].dtype(), #name, [&](auto tag) {                               \
      using T = decltype(tag);                                                                   \
      if constexpr (lowp::is_low<T>) {                                                           \
        lowp::expect_dtype(k.inputs[0].dtype(), #name, k.inputs[1]);                             \
        ew::binary<T, T, bool>(k.inputs[0], k.inputs[1], k.outputs[0], lowp::Widen2<name##_f>{}, \
                               #name);                                                           \
      } else {                                                                                   \
        ew::binary<T, T, bool>(k.inputs[0], k.inputs[1], k.outputs[0], name##_f{}, #name);       \
      }                                                                                          \
    });                                                                                          \
  }

DUET_COMPARE_OPS(DUET_CUDA_COMPARE_KERNEL)
#undef DUET_CUDA_COMPARE_KERNEL

namespace {
struct where_f {
  template <class T>
  __device__ T operator()(bool c, T a, T b) const {
    return c ? a : b;
  }
};
}  // namespace

// inputs: cond (bool), a, b; all three broadcast to the output.
void where(const KernelArgs& k) {
  lowp::dispatch_all(k.inputs[1].dtype(), "where", [&](auto tag) {
    using T = decltype(tag);
    ew::ternary<bool, T, T, T>(k.inputs[0], k.inputs[1], k.inputs[2], k.outputs[0], where_f{},
                               "where");
  });
}

}  // namespace duet::cuda_kernels
