// Shared test helpers: value comparison, finite-difference gradient checks, error checks.
//
//   expect_close(y, Tensor::from_vector({1, 2}, {2}));
//   gradcheck([](const std::vector<Tensor>& x) { return duet::mul(x[0], x[1]); },
//             {a64, b64});                          // float64 inputs
//   EXPECT_DUET_ERROR(duet::matmul(a, b), "matmul");
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "duet/duet.h"

namespace duet::test {

inline void expect_close(const Tensor& actual, const Tensor& expected, double rtol = 1e-5,
                         double atol = 1e-6) {
  ASSERT_TRUE(actual.defined());
  ASSERT_TRUE(expected.defined());
  ASSERT_EQ(shape_str(actual.shape()), shape_str(expected.shape()));
  std::vector<double> a = actual.to_vector<double>(), e = expected.to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_NEAR(a[i], e[i], atol + rtol * std::abs(e[i])) << "at flat index " << i;
  }
}

inline void expect_values(const Tensor& actual, const std::vector<double>& expected,
                          double tol = 1e-5) {
  ASSERT_TRUE(actual.defined());
  std::vector<double> a = actual.to_vector<double>();
  ASSERT_EQ(a.size(), expected.size());
  for (size_t i = 0; i < a.size(); ++i)
    ASSERT_NEAR(a[i], expected[i], tol * (1 + std::abs(expected[i]))) << "at flat index " << i;
}

// Random float64 tensor with requires_grad, values in [lo, hi).
inline Tensor rand64(const Shape& shape, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Generator g(seed);
  return Tensor::uniform(shape, lo, hi, g, float64).requires_grad_();
}

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// For every input that requires grad: its .grad() (undefined: zero) against central
// differences of the scalar `objective()` of the inputs, element by element. The inputs must
// be contiguous float64; objective() must read them afresh on every call.
inline void expect_finite_differences(const std::vector<Tensor>& inputs,
                                      const std::function<double()>& objective, double eps,
                                      double rtol, double atol) {
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& x = inputs[k];
    if (!x.requires_grad()) continue;
    ASSERT_TRUE(x.is_contiguous() && x.dtype() == float64);
    const std::vector<double> analytic =
        x.grad().defined() ? x.grad().to_vector<double>()
                           : std::vector<double>(static_cast<size_t>(x.numel()), 0.0);
    ASSERT_EQ(analytic.size(), static_cast<size_t>(x.numel()));
    double* p = x.data<double>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double orig = p[i];
      p[i] = orig + eps;
      const double up = objective();
      p[i] = orig - eps;
      const double down = objective();
      p[i] = orig;
      const double numeric = (up - down) / (2 * eps);
      ASSERT_NEAR(analytic[i], numeric, atol + rtol * std::abs(numeric))
          << "d objective / d input " << k << " at flat index " << i;
    }
  }
}

// Compares the tape's gradients of <fn(inputs), R> (R a fixed random tensor) against central
// finite differences for every input that requires grad. Inputs should be float64.
inline void gradcheck(const Fn& fn, const std::vector<Tensor>& inputs, double eps = 1e-6,
                      double rtol = 1e-4, double atol = 1e-6) {
  for (auto& x : inputs) x.zero_grad();
  Tensor out = fn(inputs);
  ASSERT_TRUE(out.requires_grad()) << "output does not require grad";
  Generator g(1234);
  Tensor r = Tensor::uniform(out.shape(), -1, 1, g, out.dtype());
  std::vector<double> rv = r.to_vector<double>();
  out.backward(r);
  auto objective = [&]() {
    NoGradGuard ng;
    std::vector<double> o = fn(inputs).to_vector<double>();
    double s = 0;
    for (size_t i = 0; i < o.size(); ++i) s += o[i] * rv[i];
    return s;
  };
  for (size_t k = 0; k < inputs.size(); ++k)
    if (inputs[k].requires_grad()) {
      ASSERT_TRUE(inputs[k].grad().defined()) << "input " << k << " got no gradient";
    }
  expect_finite_differences(inputs, objective, eps, rtol, atol);
}

}  // namespace duet::test

// Expects `stmt` to throw duet::Error whose message contains every given substring.
#define EXPECT_DUET_ERROR(stmt, ...)                                        \
  do {                                                                      \
    try {                                                                   \
      stmt;                                                                 \
      ADD_FAILURE() << "expected duet::Error from " #stmt;                  \
    } catch (const ::duet::Error& e) {                                      \
      for (const std::string& part : std::vector<std::string>{__VA_ARGS__}) \
        EXPECT_NE(std::string(e.what()).find(part), std::string::npos)      \
            << "message: " << e.what() << "\nmissing: " << part;            \
    }                                                                       \
  } while (0)
