// bfloat16 and float16 elements in CUDA kernels (nvcc only): storage types that load as
// float32 and store rounded to nearest even, so a kernel computes in float32 and rounds once,
// and a dtype dispatch that includes them.
//
//   const lowp::bf16* x = ...;  lowp::bf16* y = ...;
//   y[i] = static_cast<float>(x[i]) * 2.0f;       // float math, one rounding on the store
//   lowp::dispatch_all(t, "copy", [&](auto tag) { using T = decltype(tag); ... });
//
// The conversions give the bits of the CPU's (duet/half.h), including NaN payloads (which the
// PTX conversions do not promise), so a cast on the GPU is bit-identical to the CPU's:
// float -> low: round to nearest even (bfloat16: half.h's integer formula, which is what
// __float2bfloat16_rn computes; float16: __float2half_rn, which overflows to infinity and keeps
// subnormals) with half.h's NaN rule; low -> float: exact.
// These types have no arithmetic of their own: `a + b` on two of them converts both to float.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "duet/dtype.h"
#include "duet/error.h"
#include "duet/shape.h"

namespace duet::cuda_kernels::lowp {

__device__ __forceinline__ uint32_t float_bits(float f) {
  return __float_as_uint(f);
}
__device__ __forceinline__ float bits_float(uint32_t u) {
  return __uint_as_float(u);
}

// float -> bfloat16 bits, RNE (what __float2bfloat16_rn computes, as integer arithmetic: the
// very formula of half.h, subnormals and overflow to infinity included); NaN ->
// (bits >> 16) | 0x0040 (half.h's quiet NaN).
__device__ __forceinline__ uint16_t to_bf16_bits(float f) {
  const uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
__device__ __forceinline__ float from_bf16_bits(uint16_t b) {
  return bits_float(static_cast<uint32_t>(b) << 16);
}

// float -> float16 bits, RNE; NaN -> sign | 0x7e00 | top 10 payload bits (half.h's rule).
__device__ __forceinline__ uint16_t to_fp16_bits(float f) {
  const uint32_t u = float_bits(f);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u)
    return static_cast<uint16_t>(((u >> 16) & 0x8000u) | 0x7e00u | ((a >> 13) & 0x3ffu));
  return __half_as_ushort(__float2half_rn(f));
}
// float16 bits -> float, exact; a NaN keeps its payload (mantissa << 13) as half.h does.
__device__ __forceinline__ float from_fp16_bits(uint16_t h) {
  if ((h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0)
    return bits_float((static_cast<uint32_t>(h & 0x8000u) << 16) | 0x7f800000u |
                      (static_cast<uint32_t>(h & 0x3ffu) << 13));
  return __half2float(__ushort_as_half(h));
}

// bfloat16 element: converts from float (RNE) and to float (exact), nothing else.
struct bf16 {
  uint16_t bits;
  bf16() = default;
  __device__ __forceinline__ bf16(float f) : bits(to_bf16_bits(f)) {}  // NOLINT: implicit
  __device__ __forceinline__ operator float() const { return from_bf16_bits(bits); }  // NOLINT
};
// float16 element.
struct f16 {
  uint16_t bits;
  f16() = default;
  __device__ __forceinline__ f16(float f) : bits(to_fp16_bits(f)) {}  // NOLINT: implicit
  __device__ __forceinline__ operator float() const { return from_fp16_bits(bits); }  // NOLINT
};
static_assert(sizeof(bf16) == 2 && sizeof(f16) == 2);

template <class T>
inline constexpr bool is_low = std::is_same_v<T, bf16> || std::is_same_v<T, f16>;

// The type arithmetic on T's elements runs in: float for the 16-bit types, T otherwise.
template <class T>
struct compute {
  using type = T;
};
template <>
struct compute<bf16> {
  using type = float;
};
template <>
struct compute<f16> {
  using type = float;
};
template <class T>
using compute_t = typename compute<T>::type;

// On the host: double v as an element of type T, converted as the CPU converts it
// (static_cast; duet::BFloat16 / duet::Float16, half.h, for the 16-bit types).
template <class T>
T host_cast(double v) {
  if constexpr (std::is_same_v<T, bf16>) {
    T t;
    t.bits = BFloat16(v).bits;
    return t;
  } else if constexpr (std::is_same_v<T, f16>) {
    T t;
    t.bits = Float16(v).bits;
    return t;
  } else {
    return static_cast<T>(v);
  }
}

// v as the fused epilogues see it after a step of the unfused op chain: rounded to T and back
// for the 16-bit types (so conv2d_fused / linear_fused give the bits of conv2d, add, relu run
// one by one), v itself otherwise.
template <class T>
__device__ __forceinline__ compute_t<T> round_as(compute_t<T> v) {
  if constexpr (is_low<T>) {
    return static_cast<float>(T(v));
  } else {
    return v;
  }
}

// Calls f(T{}) for the element type of a 16-bit dtype; false (f not called) for any other.
template <class F>
bool dispatch_low(DType t, F&& f) {
  if (t == DType::bfloat16) {
    f(bf16{});
    return true;
  }
  if (t == DType::float16) {
    f(f16{});
    return true;
  }
  return false;
}

// Every dtype: float32, float64, int64, bool, float16, bfloat16.
template <class F>
void dispatch_all(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::float32:
      return f(float{});
    case DType::float64:
      return f(double{});
    case DType::int64:
      return f(int64_t{});
    case DType::bool_:
      return f(bool{});
    case DType::float16:
      return f(f16{});
    case DType::bfloat16:
      return f(bf16{});
  }
  throw Error(detail::cat(op, ": unknown dtype ", static_cast<int>(t), " on CUDA"));
}

// Floating dtypes: float32, float64, float16, bfloat16.
template <class F>
void dispatch_floating(DType t, const char* op, F&& f) {
  if (dispatch_low(t, f)) return;
  if (t == DType::float32) return f(float{});
  if (t == DType::float64) return f(double{});
  throw Error(detail::cat(op, ": dtype ", t,
                          " is not supported on CUDA (expected float32, float64, float16 or "
                          "bfloat16)"));
}

// Throws duet::Error naming `op` unless every tensor has dtype `t` (a native 16-bit kernel
// reads all its operands as one element type).
template <class... Ts>
void expect_dtype(DType t, const char* op, const Ts&... ts) {
  const auto check = [&](const auto& x) {
    DUET_CHECK(x.dtype() == t, op, ": expected every operand in ", t, ", got one in ", x.dtype(),
               " of shape ", shape_str(x.shape()));
  };
  (check(ts), ...);
}

// Functor adapters for the generic launchers (elementwise.cuh): call a float32 functor on the
// 16-bit elements converted to float; the float result is rounded once when stored.
template <class F>
struct Widen1 {
  F f;
  template <class T>
  __device__ __forceinline__ auto operator()(T x) const {
    return f(static_cast<float>(x));
  }
};
template <class F>
struct Widen2 {
  F f;
  template <class A, class B>
  __device__ __forceinline__ auto operator()(A a, B b) const {
    return f(static_cast<float>(a), static_cast<float>(b));
  }
};

}  // namespace duet::cuda_kernels::lowp
