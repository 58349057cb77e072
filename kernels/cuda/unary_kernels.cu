// CUDA kernels for unary math and ops with a scalar attribute: one functor per op on the
// generic launcher (elementwise.cuh), float32 and float64 as on the CPU; the unary math ops
// also float16 / bfloat16 (the float32 expression on widened elements, rounded once). Also the
// strided copy other CUDA kernels use to make a contiguous operand (elementwise_host.h).
#include "core/dtype_dispatch.h"
#include "cuda/elementwise.cuh"
#include "cuda/elementwise_host.h"
#include "cuda/lowp.cuh"
#include "unary_kernels.h"

namespace duet::cuda_kernels {

namespace math = dmath;  // the math:: of kernels/elementwise_ops.h

// Defines name(k): out = expr(x) for floating dtypes; `s` is the scalar attr (as T) when
// present. The expressions are kernels/elementwise_ops.h's, shared with the CPU.
#define DUET_CUDA_UNARY_KERNEL(name, attr, expr)                                       \
  namespace {                                                                          \
  template <class T>                                                                   \
  struct name##_f {                                                                    \
    T s;                                                                               \
    __device__ T operator()(T x) const { return static_cast<T>(expr); }                \
  };                                                                                   \
  }                                                                                    \
  void name(const KernelArgs& k) {                                                     \
    lowp::dispatch_floating(k.inputs[0].dtype(), #name, [&](auto tag) {                \
      using T = decltype(tag);                                                         \
      using C = lowp::compute_t<T>;                                                    \
      if constexpr (lowp::is_low<T>) {                                                 \
        lowp::expect_dtype(k.inputs[0].dtype(), #name, k.outputs[0]);                  \
        ew::unary<T, T>(k.inputs[0], k.outputs[0],                                     \
                        lowp::Widen1<name##_f<C>>{{static_cast<C>(attr)}});            \
      } else {                                                                         \
        ew::unary<T, T>(k.inputs[0], k.outputs[0], name##_f<T>{static_cast<T>(attr)}); \
      }                                                                                \
    });                                                                                \
  }

DUET_UNARY_OPS(DUET_CUDA_UNARY_KERNEL)
#undef DUET_CUDA_UNARY_KERNEL

namespace {

template <class T>
struct clamp_f {
  T lo, hi;
  __device__ T operator()(T x) const { return x < lo ? lo : (x > hi ? hi : x); }
};

template <class T>
struct clamp_backward_f {
  T lo, hi;
  __device__ T operator()(T g, T x) const { return x >= lo && x <= hi ? g : T(0); }
};

// Element copy by size: the bits are moved, never converted.
struct copy_f {
  template <class T>
  __device__ T operator()(T v) const {
    return v;
  }
};

template <class E>
void strided_copy_as(const void* src, const cuda_backend::StridedMeta& sm, void* dst,
                     cudaStream_t stream) {
  int64_t n = 1;
  for (int d = 0; d < sm.rank; ++d) n *= sm.sizes[d];
  if (n == 0) return;
  const ew::IndexMeta<1> m = ew::strided_meta_of(sm);
  ew::map1_strided<E, E, copy_f><<<cuda_backend::blocks_for(n), ew::kThreads, 0, stream>>>(
      n, m, static_cast<const E*>(src), static_cast<E*>(dst), copy_f{});
  DUET_CUDA_CHECK_LAUNCH();
}

}  // namespace

void clamp(const KernelArgs& k) {
  detail::dispatch_floating(k.inputs[0].dtype(), "clamp", [&](auto tag) {
    using T = decltype(tag);
    const T lo = static_cast<T>(k.attrs.f("lo")), hi = static_cast<T>(k.attrs.f("hi"));
    ew::unary<T, T>(k.inputs[0], k.outputs[0], clamp_f<T>{lo, hi});
  });
}

// inputs: grad, x (the CPU kernel broadcasts them like a binary op; so does this one).
void clamp_backward(const KernelArgs& k) {
  detail::dispatch_floating(k.inputs[0].dtype(), "clamp_backward", [&](auto tag) {
    using T = decltype(tag);
    const T lo = static_cast<T>(k.attrs.f("lo")), hi = static_cast<T>(k.attrs.f("hi"));
    ew::binary<T, T, T>(k.inputs[0], k.inputs[1], k.outputs[0], clamp_backward_f<T>{lo, hi},
                        "clamp_backward");
  });
}

void strided_copy(const void* src, const cuda_backend::StridedMeta& src_meta, void* dst,
                  size_t elem_size, cudaStream_t stream, const char* op) {
  switch (elem_size) {
    case 1:
      return strided_copy_as<uint8_t>(src, src_meta, dst, stream);
    case 2:
      return strided_copy_as<uint16_t>(src, src_meta, dst, stream);
    case 4:
      return strided_copy_as<uint32_t>(src, src_meta, dst, stream);
    case 8:
      return strided_copy_as<uint64_t>(src, src_meta, dst, stream);
    default:
      break;
  }
  throw Error(detail::cat(op, ": strided copy of ", elem_size,
                          "-byte elements is not supported (expected 1, 2, 4 or 8)"));
}

}  // namespace duet::cuda_kernels
