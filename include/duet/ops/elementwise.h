// Elementwise math with numpy broadcasting. Both tensor inputs must share a dtype.
//
//   auto z = duet::add(x, y);           // x: (8, 1, 4), y: (3, 1) -> z: (8, 3, 4)
//   auto w = (x - 1.0) * y / 2.0;       // operators work too
//   auto m = duet::where(duet::gt(x, 0.0), x, -x);
#pragma once

#include "duet/tensor.h"

namespace duet {

// ---- binary, broadcasting ----
Tensor add(const Tensor& a, const Tensor& b,
           std::source_location loc = std::source_location::current());
Tensor sub(const Tensor& a, const Tensor& b,
           std::source_location loc = std::source_location::current());
Tensor mul(const Tensor& a, const Tensor& b,
           std::source_location loc = std::source_location::current());
Tensor div(const Tensor& a, const Tensor& b,
           std::source_location loc = std::source_location::current());
Tensor maximum(const Tensor& a, const Tensor& b,
               std::source_location loc = std::source_location::current());
Tensor minimum(const Tensor& a, const Tensor& b,
               std::source_location loc = std::source_location::current());

// ---- with a scalar (an attribute, not a tensor) ----
Tensor add(const Tensor& a, double b, std::source_location loc = std::source_location::current());
Tensor mul(const Tensor& a, double b, std::source_location loc = std::source_location::current());
Tensor sub(const Tensor& a, double b, std::source_location loc = std::source_location::current());
Tensor div(const Tensor& a, double b, std::source_location loc = std::source_location::current());
// b - a
Tensor rsub(const Tensor& a, double b, std::source_location loc = std::source_location::current());
// b / a
Tensor rdiv(const Tensor& a, double b, std::source_location loc = std::source_location::current());
Tensor pow(const Tensor& a, double exponent,
           std::source_location loc = std::source_location::current());
Tensor clamp(const Tensor& a, double lo, double hi,
             std::source_location loc = std::source_location::current());

// ---- unary ----
Tensor neg(const Tensor& a, std::source_location loc = std::source_location::current());
Tensor exp(const Tensor& a, std::source_location loc = std::source_location::current());
Tensor log(const Tensor& a, std::source_location loc = std::source_location::current());
Tensor sqrt(const Tensor& a, std::source_location loc = std::source_location::current());
Tensor rsqrt(const Tensor& a, std::source_location loc = std::source_location::current());
Tensor abs(const Tensor& a, std::source_location loc = std::source_location::current());
// The error function (ONNX's Erf; exact GELU is 0.5 x (1 + erf(x / sqrt(2)))).
Tensor erf(const Tensor& a, std::source_location loc = std::source_location::current());
// -1, 0, 1; gradient zero
Tensor sign(const Tensor& a, std::source_location loc = std::source_location::current());

// ---- comparisons: bool results, no gradient ----
Tensor eq(const Tensor& a, const Tensor& b,
          std::source_location loc = std::source_location::current());
Tensor ne(const Tensor& a, const Tensor& b,
          std::source_location loc = std::source_location::current());
Tensor lt(const Tensor& a, const Tensor& b,
          std::source_location loc = std::source_location::current());
Tensor le(const Tensor& a, const Tensor& b,
          std::source_location loc = std::source_location::current());
Tensor gt(const Tensor& a, const Tensor& b,
          std::source_location loc = std::source_location::current());
Tensor ge(const Tensor& a, const Tensor& b,
          std::source_location loc = std::source_location::current());
Tensor gt(const Tensor& a, double b, std::source_location loc = std::source_location::current());
Tensor lt(const Tensor& a, double b, std::source_location loc = std::source_location::current());

// cond ? a : b, broadcasting all three; cond is bool.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b,
             std::source_location loc = std::source_location::current());

// ---- operators ----
inline Tensor operator+(const Tensor& a, const Tensor& b) {
  return add(a, b);
}
inline Tensor operator-(const Tensor& a, const Tensor& b) {
  return sub(a, b);
}
inline Tensor operator*(const Tensor& a, const Tensor& b) {
  return mul(a, b);
}
inline Tensor operator/(const Tensor& a, const Tensor& b) {
  return div(a, b);
}
inline Tensor operator-(const Tensor& a) {
  return neg(a);
}
inline Tensor operator+(const Tensor& a, double b) {
  return add(a, b);
}
inline Tensor operator-(const Tensor& a, double b) {
  return sub(a, b);
}
inline Tensor operator*(const Tensor& a, double b) {
  return mul(a, b);
}
inline Tensor operator/(const Tensor& a, double b) {
  return div(a, b);
}
inline Tensor operator+(double a, const Tensor& b) {
  return add(b, a);
}
inline Tensor operator-(double a, const Tensor& b) {
  return rsub(b, a);
}
inline Tensor operator*(double a, const Tensor& b) {
  return mul(b, a);
}
inline Tensor operator/(double a, const Tensor& b) {
  return rdiv(b, a);
}

}  // namespace duet
