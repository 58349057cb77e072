// The formulas of the elementwise ops, written once for the CPU and the CUDA kernels (and
// their declarations), as X-macro lists: each list calls X(...) once per op.
//
//   DUET_UNARY_OPS(X)    X(name, scalar attr, expr of x and s)   float32/float64 in and out
//   DUET_ARITH_OPS(X)    X(name, expr of x and y)                float32/float64/int64
//   DUET_COMPARE_OPS(X)  X(name, bool expr of x and y)           any dtype in, bool out
//
// In the expressions, T is the element type, s the scalar attribute converted to T, and
// math:: the math functions of the side that expands the list (std:: on the CPU, the device
// overloads in kernels/cuda/elementwise.cuh on CUDA).
#pragma once

#define DUET_UNARY_OPS(X)                                   \
  X(neg, 0, -x)                                             \
  X(exp, 0, math::exp(x))                                   \
  X(log, 0, math::log(x))                                   \
  X(sqrt, 0, math::sqrt(x))                                 \
  X(rsqrt, 0, T(1) / math::sqrt(x))                         \
  X(abs, 0, math::abs(x))                                   \
  X(erf, 0, math::erf(x))                                   \
  X(sign, 0, (x > T(0)) - (x < T(0)))                       \
  X(add_scalar, k.attrs.f("value"), x + s)                  \
  X(mul_scalar, k.attrs.f("value"), x* s)                   \
  X(rsub_scalar, k.attrs.f("value"), s - x) /* value - x */ \
  X(rdiv_scalar, k.attrs.f("value"), s / x) /* value / x */ \
  X(pow_scalar, k.attrs.f("exponent"), s == T(2) ? x * x : (s == T(1) ? x : math::pow(x, s)))

#define DUET_ARITH_OPS(X)   \
  X(add, x + y)             \
  X(sub, x - y)             \
  X(mul, x* y)              \
  X(div, x / y)             \
  X(maximum, x > y ? x : y) \
  X(minimum, x < y ? x : y)

#define DUET_COMPARE_OPS(X) \
  X(eq, x == y)             \
  X(ne, x != y)             \
  X(lt, x < y)              \
  X(le, x <= y)             \
  X(gt, x > y)              \
  X(ge, x >= y)
