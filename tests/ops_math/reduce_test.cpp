// Reductions: sum / mean / max over any axes against a naive reference, argmax, gradients.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

enum class Kind { sum, mean, max };

// Naive reference: walks every element and folds it into its output slot.
std::vector<double> naive(const Tensor& x, std::vector<int64_t> axes, Kind kind) {
  const Shape& s = x.shape();
  const int64_t r = x.dim();
  std::vector<bool> red(r, axes.empty());
  for (int64_t a : axes) red[a < 0 ? a + r : a] = true;
  Shape os;
  for (int64_t d = 0; d < r; ++d)
    if (!red[d]) os.push_back(s[d]);
  const int64_t n_out = numel(os);
  std::vector<double> acc(n_out, kind == Kind::max ? -INFINITY : 0.0), cnt(n_out, 0);
  std::vector<double> v = x.to_vector<double>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t rem = i, o = 0, mult = 1;
    for (int64_t d = r - 1; d >= 0; --d) {
      const int64_t idx = rem % s[d];
      rem /= s[d];
      if (!red[d]) {
        o += idx * mult;
        mult *= s[d];
      }
    }
    if (kind == Kind::max) {
      acc[o] = std::max(acc[o], v[i]);
    } else {
      acc[o] += v[i];
    }
    cnt[o] += 1;
  }
  if (kind == Kind::mean)
    for (int64_t o = 0; o < n_out; ++o) acc[o] /= cnt[o];
  return acc;
}

Shape expected_shape(const Shape& s, std::vector<int64_t> axes, bool keepdim) {
  const int64_t r = static_cast<int64_t>(s.size());
  std::vector<bool> red(r, axes.empty());
  for (int64_t a : axes) red[a < 0 ? a + r : a] = true;
  Shape out;
  for (int64_t d = 0; d < r; ++d) {
    if (!red[d])
      out.push_back(s[d]);
    else if (keepdim)
      out.push_back(1);
  }
  return out;
}

const std::vector<std::vector<int64_t>> kAxisSets = {
    {},     {0},    {1},       {2},      {3},    {-1},         {0, 2},
    {1, 3}, {0, 3}, {0, 2, 3}, {-3, -1}, {3, 0}, {0, 1, 2, 3}, {1, 2}};

}  // namespace

TEST(Reduce, SumMeanMaxMatchNaiveOverAxisSets) {
  Generator g(1);
  for (DType dt : {float32, float64}) {
    Tensor x = Tensor::uniform({2, 3, 4, 5}, -2, 2, g, dt);
    for (const auto& axes : kAxisSets) {
      for (bool keepdim : {false, true}) {
        SCOPED_TRACE(shape_str(axes) + (keepdim ? " keepdim" : "") + " " + dtype_name(dt));
        const std::string es = shape_str(expected_shape(x.shape(), axes, keepdim));
        Tensor s = sum(x, axes, keepdim), m = mean(x, axes, keepdim), mx = max(x, axes, keepdim);
        EXPECT_EQ(shape_str(s.shape()), es);
        EXPECT_EQ(shape_str(m.shape()), es);
        EXPECT_EQ(shape_str(mx.shape()), es);
        EXPECT_EQ(s.dtype(), dt);
        const double tol = dt == float32 ? 1e-6 : 1e-13;
        expect_values(s, naive(x, axes, Kind::sum), tol);
        expect_values(m, naive(x, axes, Kind::mean), tol);
        expect_values(mx, naive(x, axes, Kind::max), 0);
      }
    }
  }
}

// Sizes large enough for the chunked, parallel paths (partials combined in order).
TEST(Reduce, LargeTensorsUseChunkedPaths) {
  Generator g(2);
  Tensor x = Tensor::uniform({3, 100003}, -1, 1, g, float32);
  for (const auto& axes : std::vector<std::vector<int64_t>>{{1}, {0}, {}}) {
    SCOPED_TRACE(shape_str(axes));
    expect_values(sum(x, axes), naive(x, axes, Kind::sum), 1e-6);
    expect_values(mean(x, axes), naive(x, axes, Kind::mean), 1e-6);
    expect_values(max(x, axes), naive(x, axes, Kind::max), 0);
  }
  Tensor y = Tensor::uniform({40001, 7}, -1, 1, g, float64);
  expect_values(sum(y, {0}), naive(y, {0}, Kind::sum), 1e-12);
  Tensor z = Tensor::uniform({5, 600, 300}, -1, 1, g, float32);
  expect_values(sum(z, {0, 2}), naive(z, {0, 2}, Kind::sum), 1e-6);
  expect_values(max(z, {1}), naive(z, {1}, Kind::max), 0);
}

// float32 sums accumulate in double: a million 0.1s sum to 100000 (a float accumulator
// would drift by about 1%).
TEST(Reduce, Float32SumAccumulatesInDouble) {
  Tensor x = Tensor::full({1000000}, 0.1, float32);
  EXPECT_NEAR(sum(x).item<double>(), 100000.0, 0.05);
  EXPECT_NEAR(mean(x).item<double>(), 0.1, 1e-7);
}

TEST(Reduce, Int64AndBool) {
  Tensor i = Tensor::from_vector(std::vector<int64_t>{1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor s = sum(i, {1});
  EXPECT_EQ(s.dtype(), int64);
  EXPECT_EQ(s.to_vector<int64_t>(), (std::vector<int64_t>{6, 15}));
  EXPECT_EQ(sum(i).item<int64_t>(), 21);
  EXPECT_EQ(max(i, {0}).to_vector<int64_t>(), (std::vector<int64_t>{4, 5, 6}));
  Tensor b = gt(Tensor::from_vector({1, -1, 2, 3}, {4}), 0.0);
  Tensor c = sum(b);
  EXPECT_EQ(c.dtype(), int64);
  EXPECT_EQ(c.item<int64_t>(), 3);
}

TEST(Reduce, ZeroDimAndEmpty) {
  Tensor s = Tensor::scalar(2.5, float64);
  EXPECT_EQ(sum(s).item<double>(), 2.5);
  EXPECT_EQ(max(s).item<double>(), 2.5);
  Tensor e = Tensor::zeros({0, 3});
  expect_values(sum(e, {0}), {0, 0, 0});
  EXPECT_TRUE(std::isnan(mean(e).item<double>()));
  EXPECT_EQ(shape_str(sum(e, {1}).shape()), "(0,)");
}

TEST(Reduce, MaxPropagatesNan) {
  Tensor x = Tensor::from_vector({1, NAN, 3, 4, 5, 6}, {2, 3});
  std::vector<float> m = max(x, {1}).to_vector<float>();
  EXPECT_TRUE(std::isnan(m[0]));
  EXPECT_EQ(m[1], 6.0f);
  EXPECT_EQ(argmax(x, 1).to_vector<int64_t>(), (std::vector<int64_t>{1, 2}));
}

TEST(Reduce, Argmax) {
  // ties: the first index wins
  Tensor x = Tensor::from_vector({1, 5, 5, 2, 7, 0, 7, 1, 3, 3, 3, 9}, {3, 4});
  Tensor a1 = argmax(x, 1);
  EXPECT_EQ(a1.dtype(), int64);
  EXPECT_EQ(a1.to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 3}));
  EXPECT_EQ(argmax(x, 0).to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 1, 2}));
  EXPECT_EQ(argmax(x, -2, true).to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 1, 2}));
  EXPECT_EQ(shape_str(argmax(x, -2, true).shape()), "(1, 4)");
  EXPECT_EQ(shape_str(argmax(x, 1, true).shape()), "(3, 1)");
  // A middle axis of a bigger tensor against a naive loop.
  Generator g(4);
  Tensor y = Tensor::uniform({4, 50, 300}, -1, 1, g, float64);
  std::vector<double> v = y.to_vector<double>();
  std::vector<int64_t> got = argmax(y, 1).to_vector<int64_t>();
  for (int64_t o = 0; o < 4; ++o)
    for (int64_t i = 0; i < 300; ++i) {
      int64_t best = 0;
      for (int64_t r = 1; r < 50; ++r)
        if (v[(o * 50 + r) * 300 + i] > v[(o * 50 + best) * 300 + i]) best = r;
      ASSERT_EQ(got[o * 300 + i], best);
    }
  EXPECT_EQ(argmax(Tensor::from_vector(std::vector<int64_t>{3, 9, 9}, {3}), 0).item<int64_t>(), 1);
}

TEST(Reduce, Gradcheck) {
  Tensor x = rand64({2, 3, 4}, 7);
  for (const auto& axes :
       std::vector<std::vector<int64_t>>{{}, {0}, {-1}, {0, 2}, {2, 0}, {1, -1}, {0, 1, 2}}) {
    for (bool keepdim : {false, true}) {
      SCOPED_TRACE(shape_str(axes) + (keepdim ? " keepdim" : ""));
      gradcheck([&](const std::vector<Tensor>& v) { return sum(v[0], axes, keepdim); }, {x});
      gradcheck([&](const std::vector<Tensor>& v) { return mean(v[0], axes, keepdim); }, {x});
      gradcheck([&](const std::vector<Tensor>& v) { return max(v[0], axes, keepdim); }, {x});
    }
  }
}

// Ties: the whole gradient goes to the first maximal element (row-major within the group).
TEST(Reduce, MaxGradientGoesToFirstMaximum) {
  Tensor x = Tensor::from_vector({1, 3, 3, 2, 2, 0}, {2, 3}, float64).requires_grad_();
  max(x, {1}).backward(Tensor::from_vector({10, 20}, {2}, float64));
  expect_values(x.grad(), {0, 10, 0, 20, 0, 0});
  x.zero_grad();
  max(x).backward();
  expect_values(x.grad(), {0, 1, 0, 0, 0, 0});
  Tensor y = Tensor::from_vector({5, 1, 2, 5, 5, 0, 0, 5}, {2, 2, 2}, float64).requires_grad_();
  max(y, {0, 2}, true).backward(Tensor::from_vector({1, 2}, {1, 2, 1}, float64));
  // group axis1=0: elements (0,0,0)=5 (0,0,1)=1 (1,0,0)=5 (1,0,1)=0 -> first is (0,0,0)
  // group axis1=1: (0,1,0)=2 (0,1,1)=5 (1,1,0)=0 (1,1,1)=5 -> first is (0,1,1)
  expect_values(y.grad(), {1, 0, 0, 2, 0, 0, 0, 0});
}

TEST(Reduce, MaxBackwardOpAndItsGradient) {
  Tensor x = rand64({3, 4, 2}, 9).detach();
  Tensor g = rand64({3, 2}, 10);
  std::vector<double> dx = max_backward(g, x, {1}).to_vector<double>();
  std::vector<double> mx = max(x, {1}).to_vector<double>(), xv = x.to_vector<double>();
  std::vector<double> gv = g.to_vector<double>();
  for (int64_t a = 0; a < 3; ++a)
    for (int64_t b = 0; b < 4; ++b)
      for (int64_t c = 0; c < 2; ++c) {
        const int64_t i = (a * 4 + b) * 2 + c;
        EXPECT_EQ(dx[i], xv[i] == mx[a * 2 + c] ? gv[a * 2 + c] : 0.0);
      }
  gradcheck([&](const std::vector<Tensor>& v) { return max_backward(v[0], x, {1}); }, {g});
  Tensor gk = rand64({1, 4, 1}, 11);
  gradcheck(
      [&](const std::vector<Tensor>& v) {
        return max_backward(v[0], x, {0, -1}, true);
      },
      {gk});
}

TEST(Reduce, Errors) {
  Tensor x = Tensor::zeros({2, 3});
  EXPECT_DUET_ERROR(sum(x, {2}), "sum", "axis 2", "(2, 3)", "-2 <= axis < 2");
  EXPECT_DUET_ERROR(mean(x, {-3}), "mean", "axis -3", "(2, 3)");
  EXPECT_DUET_ERROR(max(x, {1, -1}), "max", "repeats", "(2, 3)");
  EXPECT_DUET_ERROR(sum(x, {0, 0}), "sum", "repeats");
  EXPECT_DUET_ERROR(argmax(x, 5), "argmax", "axis 5");
  EXPECT_DUET_ERROR(mean(Tensor::zeros({2}, int64)), "mean", "int64");
  EXPECT_DUET_ERROR(max(Tensor::zeros({0, 3}), {0}), "max", "size 0", "(0, 3)");
  EXPECT_DUET_ERROR(argmax(Tensor::zeros({3, 0}), 1), "argmax", "size 0");
  EXPECT_DUET_ERROR(sum(Tensor::scalar(1.0), {0}), "sum", "0-d");
  EXPECT_DUET_ERROR(max_backward(Tensor::zeros({3}), x, {1}), "max_backward", "(3,)", "(2,)");
}

TEST(Reduce, NonContiguousInput) {
  Generator g(12);
  Tensor x = Tensor::uniform({3, 4, 5}, -1, 1, g, float64).permute({2, 0, 1});  // (5, 3, 4)
  ASSERT_FALSE(x.is_contiguous());
  Tensor xc = x.contiguous();
  for (const auto& axes : std::vector<std::vector<int64_t>>{{0}, {1, 2}, {}}) {
    expect_close(sum(x, axes), sum(xc, axes), 1e-12, 1e-14);
    expect_close(max(x, axes), max(xc, axes), 0, 0);
  }
  expect_close(softmax(x, 1), softmax(xc, 1), 1e-12, 1e-14);
  EXPECT_EQ(argmax(x, 2).to_vector<int64_t>(), argmax(xc, 2).to_vector<int64_t>());
}
