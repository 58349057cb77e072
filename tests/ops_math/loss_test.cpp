// softmax / log_softmax, their fused backward ops, cross_entropy and mse_loss.
#include <cmath>
#include <string>

#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

// Naive softmax along `axis` of a contiguous tensor, in double.
std::vector<double> naive_softmax(const Tensor& x, int64_t axis, bool log) {
  const Shape& s = x.shape();
  if (axis < 0) axis += x.dim();
  int64_t outer = 1, C = s[axis], inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= s[d];
  for (int64_t d = axis + 1; d < x.dim(); ++d) inner *= s[d];
  std::vector<double> v = x.to_vector<double>(), y(v.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      auto at = [&](int64_t c) { return (o * C + c) * inner + i; };
      double m = -INFINITY, z = 0;
      for (int64_t c = 0; c < C; ++c) m = std::max(m, v[at(c)]);
      for (int64_t c = 0; c < C; ++c) z += std::exp(v[at(c)] - m);
      for (int64_t c = 0; c < C; ++c)
        y[at(c)] = log ? v[at(c)] - m - std::log(z) : std::exp(v[at(c)] - m) / z;
    }
  return y;
}

Tensor labels_of(std::vector<int64_t> v) {
  return Tensor::from_vector(v, {static_cast<int64_t>(v.size())});
}

// PyTorch's definition: mean_n [ (1 - eps) * -logp[label] + eps * mean_c(-logp) ].
double naive_cross_entropy(const Tensor& logits, const std::vector<int64_t>& labels, double eps) {
  std::vector<double> lp = naive_softmax(logits, 1, true);
  const int64_t N = logits.shape()[0], C = logits.shape()[1];
  double total = 0;
  for (int64_t n = 0; n < N; ++n) {
    double smooth = 0;
    for (int64_t c = 0; c < C; ++c) smooth -= lp[n * C + c] / C;
    total += (1 - eps) * -lp[n * C + labels[n]] + eps * smooth;
  }
  return total / N;
}

}  // namespace

TEST(Softmax, ForwardMatchesNaiveOnEveryAxis) {
  Generator g(1);
  for (DType dt : {float32, float64}) {
    Tensor x = Tensor::uniform({3, 4, 5}, -3, 3, g, dt);
    for (int64_t axis : {0, 1, 2, -1}) {
      SCOPED_TRACE(std::to_string(axis) + " " + dtype_name(dt));
      const double tol = dt == float32 ? 1e-6 : 1e-13;
      Tensor p = softmax(x, axis), lp = log_softmax(x, axis);
      EXPECT_EQ(p.dtype(), dt);
      EXPECT_EQ(shape_str(p.shape()), "(3, 4, 5)");
      expect_values(p, naive_softmax(x, axis, false), tol);
      expect_values(lp, naive_softmax(x, axis, true), tol);
    }
  }
}

TEST(Softmax, LargeInputsParallelPath) {
  Generator g(2);
  Tensor x = Tensor::uniform({64, 1000}, -10, 10, g, float32);
  expect_values(softmax(x, 1), naive_softmax(x, 1, false), 1e-5);
  Tensor y = Tensor::uniform({8, 100, 64}, -10, 10, g, float32);
  expect_values(log_softmax(y, 1), naive_softmax(y, 1, true), 1e-5);
}

TEST(Softmax, NumericallyStableForLargeLogits) {
  Tensor x = Tensor::from_vector({1000, 1001, 1002, -1000, -1001, -1002}, {2, 3});
  const double z = 1 + std::exp(-1.0) + std::exp(-2.0);
  expect_values(softmax(x, 1), {std::exp(-2.0) / z, std::exp(-1.0) / z, 1 / z, 1 / z,
                                std::exp(-1.0) / z, std::exp(-2.0) / z});
  expect_values(log_softmax(x, 1), {-2 - std::log(z), -1 - std::log(z), -std::log(z), -std::log(z),
                                    -1 - std::log(z), -2 - std::log(z)});
}

TEST(Softmax, Gradcheck) {
  Tensor x = rand64({3, 4}, 3, -2, 2);
  for (int64_t axis : {0, 1}) {
    SCOPED_TRACE(axis);
    gradcheck([axis](const std::vector<Tensor>& v) { return softmax(v[0], axis); }, {x});
    gradcheck([axis](const std::vector<Tensor>& v) { return log_softmax(v[0], axis); }, {x});
  }
  Tensor y = rand64({2, 3, 4}, 4, -2, 2);
  gradcheck([](const std::vector<Tensor>& v) { return softmax(v[0], -2); }, {y});
  gradcheck([](const std::vector<Tensor>& v) { return log_softmax(v[0], 2); }, {y});
}

TEST(Softmax, BackwardOpsValuesAndGradcheck) {
  Tensor g = rand64({3, 4}, 5);
  Tensor x = rand64({3, 4}, 6, -2, 2);
  Tensor p = softmax(x, 1).detach(), lp = log_softmax(x, 1).detach();
  // against the composed formulas
  expect_close(softmax_backward(g, p, 1), mul(p, sub(g, sum(mul(g, p), {1}, true))), 1e-12, 1e-14);
  expect_close(log_softmax_backward(g, lp, 1), sub(g, mul(exp(lp), sum(g, {1}, true))), 1e-12,
               1e-14);
  // their own gradient rules, wrt both inputs, on both axes
  Tensor y = rand64({3, 4}, 7, 0.1, 0.9);
  for (int64_t axis : {0, 1}) {
    SCOPED_TRACE(axis);
    gradcheck([axis](const std::vector<Tensor>& v) { return softmax_backward(v[0], v[1], axis); },
              {g, y});
    gradcheck(
        [axis](const std::vector<Tensor>& v) { return log_softmax_backward(v[0], v[1], axis); },
        {g, rand64({3, 4}, 8, -2, -0.1)});
  }
}

TEST(CrossEntropy, KnownValue) {
  for (DType dt : {float32, float64}) {
    Tensor logits = Tensor::from_vector({1, 2, 3, 1, 1, 1}, {2, 3}, dt);
    Tensor loss = cross_entropy(logits, labels_of({2, 0}));
    EXPECT_EQ(loss.dim(), 0);
    EXPECT_EQ(loss.dtype(), dt);
    // mean(0.40760596, 1.09861229)
    EXPECT_NEAR(loss.item<double>(), 0.75310912, 1e-7);
  }
}

TEST(CrossEntropy, MatchesNaiveWithAndWithoutSmoothing) {
  Generator g(9);
  for (DType dt : {float32, float64}) {
    Tensor logits = Tensor::uniform({6, 5}, -3, 3, g, dt);
    std::vector<int64_t> lab = {0, 4, 2, 2, 1, 3};
    for (double eps : {0.0, 0.1, 0.5, 1.0}) {
      SCOPED_TRACE(eps);
      EXPECT_NEAR(cross_entropy(logits, labels_of(lab), eps).item<double>(),
                  naive_cross_entropy(logits, lab, eps), dt == float32 ? 1e-6 : 1e-13);
    }
  }
  // A larger batch (parallel path).
  Tensor big = Tensor::uniform({512, 100}, -5, 5, g, float32);
  std::vector<int64_t> lab(512);
  for (int64_t i = 0; i < 512; ++i) lab[i] = (i * 37) % 100;
  EXPECT_NEAR(cross_entropy(big, labels_of(lab), 0.1).item<double>(),
              naive_cross_entropy(big, lab, 0.1), 1e-5);
}

TEST(CrossEntropy, GradientIsSoftmaxMinusSmoothedOneHotOverN) {
  Tensor logits = Tensor::from_vector({1, 2, 3, 1, 1, 1}, {2, 3}, float64).requires_grad_();
  const double eps = 0.3;
  (cross_entropy(logits, labels_of({2, 0}), eps) * 2.0).backward();
  std::vector<double> p = naive_softmax(logits.detach(), 1, false);
  std::vector<double> e(6);
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 3; ++c) {
      const int label = n == 0 ? 2 : 0;
      e[n * 3 + c] = (p[n * 3 + c] - ((c == label) * (1 - eps) + eps / 3)) / 2 * 2.0;
    }
  expect_values(logits.grad(), e, 1e-12);
}

TEST(CrossEntropy, Gradcheck) {
  Tensor logits = rand64({4, 5}, 10, -2, 2);
  Tensor lab = labels_of({1, 0, 4, 4});
  for (double eps : {0.0, 0.2}) {
    SCOPED_TRACE(eps);
    gradcheck([&](const std::vector<Tensor>& v) { return cross_entropy(v[0], lab, eps); },
              {logits});
  }
  // The backward op's own rule: wrt the incoming scalar gradient and wrt log_probs.
  Tensor go = Tensor::scalar(0.7, float64).requires_grad_();
  Tensor lp = rand64({4, 5}, 11, -3, -0.1);
  for (double eps : {0.0, 0.2}) {
    gradcheck(
        [&](const std::vector<Tensor>& v) { return cross_entropy_backward(v[0], v[1], lab, eps); },
        {go, lp});
  }
}

TEST(CrossEntropy, Errors) {
  Tensor logits = Tensor::zeros({4, 10});
  EXPECT_DUET_ERROR(cross_entropy(logits, labels_of({1, 7, 12, 0})), "cross_entropy", "label 12",
                    "index 2", "10 classes");
  EXPECT_DUET_ERROR(cross_entropy(Tensor::zeros({2, 5}), labels_of({7, 0})), "label 7", "index 0",
                    "5 classes");
  EXPECT_DUET_ERROR(cross_entropy(logits, labels_of({1, -1, 2, 0})), "label -1", "index 1");
  EXPECT_DUET_ERROR(cross_entropy(logits, Tensor::zeros({4})), "cross_entropy", "labels", "float32",
                    "int64");
  EXPECT_DUET_ERROR(cross_entropy(Tensor::zeros({4, 10, 2}), labels_of({0, 0, 0, 0})),
                    "cross_entropy", "(4, 10, 2)", "rank 2");
  EXPECT_DUET_ERROR(cross_entropy(logits, labels_of({0, 0, 0})), "cross_entropy", "(3,)", "(4, 10)",
                    "(4,)");
  EXPECT_DUET_ERROR(cross_entropy(logits, labels_of({0, 0, 0, 0}), 1.5), "label_smoothing", "1.5");
  EXPECT_DUET_ERROR(
      cross_entropy_backward(Tensor::ones({}), Tensor::zeros({2, 3}), labels_of({0, 3})),
      "cross_entropy_backward", "label 3", "3 classes");
}

TEST(MseLoss, ValueGradcheckAndErrors) {
  Tensor p = Tensor::from_vector({1, 2, 3, 4}, {2, 2}),
         t = Tensor::from_vector({0, 2, 5, 1}, {2, 2});
  EXPECT_NEAR(mse_loss(p, t).item<double>(), (1 + 0 + 4 + 9) / 4.0, 1e-7);
  gradcheck([](const std::vector<Tensor>& v) { return mse_loss(v[0], v[1]); },
            {rand64({3, 4}, 12), rand64({3, 4}, 13)});
  EXPECT_DUET_ERROR(mse_loss(Tensor::zeros({2, 3}), Tensor::zeros({3, 2})), "mse_loss", "(2, 3)",
                    "(3, 2)");
  EXPECT_DUET_ERROR(mse_loss(Tensor::zeros({2, 3}), Tensor::zeros({3})), "mse_loss", "(3,)");
  EXPECT_DUET_ERROR(mse_loss(Tensor::zeros({2}), Tensor::zeros({2}, float64)), "mse_loss",
                    "float64");
}

TEST(Softmax, Errors) {
  EXPECT_DUET_ERROR(softmax(Tensor::zeros({2, 3}), 2), "softmax", "axis 2");
  EXPECT_DUET_ERROR(log_softmax(Tensor::zeros({2}, int64), 0), "log_softmax", "int64");
  EXPECT_DUET_ERROR(softmax_backward(Tensor::zeros({2, 3}), Tensor::zeros({3, 2}), 1),
                    "softmax_backward", "(2, 3)", "(3, 2)");
}
