// dropout: determinism, statistics, gradient, identity cases, errors.
#include "duet/threads.h"

#include <cmath>

#include "test_util.h"

using namespace duet;
using namespace duet::test;

TEST(Dropout, SameSeedSameMaskDifferentSeedDiffers) {
  Tensor x = Tensor::ones({1000});
  Generator g1(5), g2(5), g3(6);
  std::vector<float> a = dropout(x, 0.3, true, g1).to_vector<float>();
  std::vector<float> b = dropout(x, 0.3, true, g2).to_vector<float>();
  std::vector<float> c = dropout(x, 0.3, true, g3).to_vector<float>();
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  // The generator advances: a second call draws a new mask.
  EXPECT_NE(dropout(x, 0.3, true, g1).to_vector<float>(), a);
  // Odd sizes (a partial block at the end) work and stay deterministic.
  Tensor odd = Tensor::ones({16385}, float64);
  Generator h1(9), h2(9);
  std::vector<double> o1 = dropout(odd, 0.5, true, h1).to_vector<double>();
  EXPECT_EQ(o1, dropout(odd, 0.5, true, h2).to_vector<double>());
  int64_t kept = 0;
  for (double v : o1) {
    ASSERT_TRUE(v == 0.0 || v == 2.0) << v;
    kept += v != 0.0;
  }
  EXPECT_NEAR(kept / 16385.0, 0.5, 0.03);
}

TEST(Dropout, MaskIndependentOfThreadCount) {
  Tensor x = Tensor::ones({300000});
  Generator g1(8), g2(8);
  const int threads = duet::num_threads();
  duet::set_num_threads(1);
  std::vector<float> a = dropout(x, 0.5, true, g1).to_vector<float>();
  duet::set_num_threads(std::max(threads, 3));
  std::vector<float> b = dropout(x, 0.5, true, g2).to_vector<float>();
  duet::set_num_threads(threads);
  EXPECT_EQ(a, b);
}

TEST(Dropout, FractionZeroedAndExpectedValue) {
  Generator g(1);
  const int64_t n = 1000000;
  for (double p : {0.1, 0.5, 0.8}) {
    SCOPED_TRACE(p);
    Tensor y = dropout(Tensor::ones({n}, float64), p, true, g);
    std::vector<double> v = y.to_vector<double>();
    int64_t zeros = 0;
    for (double e : v) {
      if (e == 0) {
        ++zeros;
      } else {
        ASSERT_NEAR(e, 1 / (1 - p), 1e-12);
      }
    }
    // the standard error of the fraction is sqrt(p (1 - p) / n) < 5e-4
    EXPECT_NEAR(static_cast<double>(zeros) / n, p, 5e-3);
    EXPECT_NEAR(mean(y).item<double>(), 1.0, 0.02);
  }
}

TEST(Dropout, IdentityWhenEvalOrPZeroAndZerosWhenPOne) {
  Tensor x = Tensor::ones({10});
  Generator g(0);
  EXPECT_TRUE(dropout(x, 0.5, false, g).is_same(x));
  EXPECT_TRUE(dropout(x, 0.0, true, g).is_same(x));
  expect_values(dropout(x, 1.0, true, g), std::vector<double>(10, 0.0));
}

TEST(Dropout, GradientIsTheMask) {
  for (DType dt : {float32, float64}) {
    Tensor x = Tensor::full({200}, 2.0, dt).requires_grad_();
    Generator g(3);
    Tensor y = dropout(x, 0.4, true, g);
    sum(y).backward();
    // y = 2 * mask, so dL/dx = mask = y / 2
    expect_close(x.grad(), div(y.detach(), 2.0));
  }
  Tensor x = rand64({4, 5}, 2);
  gradcheck(
      [](const std::vector<Tensor>& v) {
        Generator g(11);
        return dropout(v[0], 0.3, true, g);
      },
      {x});
}

TEST(Dropout, Errors) {
  Tensor x = Tensor::ones({3});
  Generator g(0);
  EXPECT_DUET_ERROR(dropout(x, 1.5, true, g), "dropout", "1.5", "0 <= p <= 1");
  EXPECT_DUET_ERROR(dropout(x, -0.1, false, g), "dropout", "-0.1");
  EXPECT_DUET_ERROR(dropout(Tensor::ones({3}, int64), 0.5, true, g), "dropout", "int64");
}
