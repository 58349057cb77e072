// Element-wise reductions for Gloo's allreduce, for every duet dtype: Gloo calls
// fn(out, a, b, n) with out = a op b over n elements (out may alias a or b).
//
//   auto fn = reduce_fn(DType::float32, ReduceOp::max);   // gloo::AllreduceOptions::Func
//
// bool: sum and max are logical or, min is logical and. float16 uses _Float16 arithmetic;
// bfloat16 is widened to float and rounded back to nearest even.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>

#include "duet/distributed.h"
#include "duet/dtype.h"
#include "duet/error.h"

namespace duet::distributed::gloo_engine {

using ReduceFn = std::function<void(void*, const void*, const void*, size_t)>;

namespace reduce_detail {

struct BF16 {
  uint16_t bits;
};
inline float widen(BF16 v) {
  uint32_t u = uint32_t{v.bits} << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline BF16 narrow(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return BF16{static_cast<uint16_t>((u >> 16) | 0x40)};
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even
  return BF16{static_cast<uint16_t>(u >> 16)};
}

struct Sum {
  template <class T>
  static T apply(T a, T b) {
    return a + b;
  }
};
struct Min {
  template <class T>
  static T apply(T a, T b) {
    return b < a ? b : a;
  }
};
struct Max {
  template <class T>
  static T apply(T a, T b) {
    return a < b ? b : a;
  }
};

template <class T, class Op>
void run(void* out, const void* a, const void* b, size_t n) {
  auto* o = static_cast<T*>(out);
  const auto* x = static_cast<const T*>(a);
  const auto* y = static_cast<const T*>(b);
  for (size_t i = 0; i < n; ++i) {
    if constexpr (std::is_same_v<T, BF16>)
      o[i] = narrow(Op::apply(widen(x[i]), widen(y[i])));
    else
      o[i] = Op::apply(x[i], y[i]);
  }
}

// bool as one byte: or (sum, max) or and (min).
template <bool kAnd>
void run_bool(void* out, const void* a, const void* b, size_t n) {
  auto* o = static_cast<uint8_t*>(out);
  const auto* x = static_cast<const uint8_t*>(a);
  const auto* y = static_cast<const uint8_t*>(b);
  for (size_t i = 0; i < n; ++i) o[i] = kAnd ? (x[i] && y[i]) : (x[i] || y[i]);
}

template <class T>
ReduceFn for_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum:
      return &run<T, Sum>;
    case ReduceOp::min:
      return &run<T, Min>;
    case ReduceOp::max:
      return &run<T, Max>;
    case ReduceOp::avg:
      break;
  }
  throw Error("gloo: all_reduce got ReduceOp::avg; the process group sums and divides itself");
}

}  // namespace reduce_detail

inline ReduceFn reduce_fn(DType dtype, ReduceOp op) {
  using namespace reduce_detail;
  switch (dtype) {
    case DType::float32:
      return for_op<float>(op);
    case DType::float64:
      return for_op<double>(op);
    case DType::int64:
      return for_op<int64_t>(op);
    case DType::float16:
      return for_op<_Float16>(op);
    case DType::bfloat16:
      return for_op<BF16>(op);
    case DType::bool_:
      if (op == ReduceOp::avg) break;
      return op == ReduceOp::min ? &run_bool<true> : &run_bool<false>;
  }
  throw Error(::duet::detail::cat("gloo: all_reduce avg of ", dtype_name(dtype),
                                  " is not supported (bool: sum, min or max)"));
}

}  // namespace duet::distributed::gloo_engine
