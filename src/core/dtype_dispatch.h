// dtype dispatch for kernels: calls f(T{}) with T the C++ type of `dtype`.
//
//   dispatch_floating(x.dtype(), "relu", [&](auto tag) {
//     using T = decltype(tag);
//     const T* p = x.data<T>();
//   });
#pragma once

#include "duet/dtype.h"
#include "duet/error.h"

namespace duet::detail {

template <class F>
void dispatch_floating(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::float32:
      f(float{});
      return;
    case DType::float64:
      f(double{});
      return;
    default:
      break;
  }
  throw Error(cat(op, ": dtype ", t, " is not supported (expected float32 or float64)"));
}

template <class F>
void dispatch_all(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::float32:
      f(float{});
      return;
    case DType::float64:
      f(double{});
      return;
    case DType::int64:
      f(int64_t{});
      return;
    case DType::bool_:
      f(bool{});
      return;
    default:
      break;
  }
  throw Error(
      cat(op, ": dtype ", t, " is not supported (expected float32, float64, int64 or bool)"));
}

}  // namespace duet::detail
