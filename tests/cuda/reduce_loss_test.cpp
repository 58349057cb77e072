// CUDA reductions, softmax/log_softmax and cross entropy against the CPU, forward and backward
// (label cuda; skipped without a device): sum/mean/max over each axis, axis sets and all axes,
// with and without keepdim, int64/bool sums, argmax with ties and NaNs, inputs of 2^20
// elements (which take the split two-pass path), softmax rows of 1000, the fused backward ops
// and their own gradients, cross entropy with and without label smoothing.
#include <cmath>
#include <string>
#include <vector>

#include "cuda_test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

// Sums accumulate in double on both devices; float32 outputs differ by rounding only.
double tol(DType dt) {
  return dt == float64 ? 1e-12 : 1e-5;
}

// Integer-valued floats in [-2, 2]: many ties.
Tensor ties(const Shape& shape, uint64_t seed, DType dt) {
  Generator g(seed);
  std::vector<double> v(numel(shape));
  for (double& e : v) e = static_cast<double>(g.below(5)) - 2.0;
  return Tensor::from_vector(v, shape, dt);
}

std::string axes_str(const std::vector<int64_t>& axes, bool keepdim) {
  return shape_str(axes) + (keepdim ? " keepdim" : "");
}

}  // namespace

TEST(CudaReduce, SumMeanMaxOverAxes) {
  DUET_REQUIRE_CUDA();
  const std::vector<std::vector<int64_t>> axis_sets = {{},     {0},    {1},    {2},      {-1},
                                                       {0, 2}, {1, 2}, {0, 1}, {0, 1, 2}};
  for (DType dt : {float32, float64}) {
    Tensor x = normal_leaf({6, 7, 9}, 1, dt);
    for (const auto& axes : axis_sets) {
      for (bool keepdim : {false, true}) {
        const std::string what = std::string(dtype_name(dt)) + " axes " + axes_str(axes, keepdim);
        expect_cuda_matches_cpu(
            "sum " + what,
            [&](const std::vector<Tensor>& in) { return std::vector{sum(in[0], axes, keepdim)}; },
            {x}, tol(dt));
        expect_cuda_matches_cpu(
            "mean " + what,
            [&](const std::vector<Tensor>& in) { return std::vector{mean(in[0], axes, keepdim)}; },
            {x}, tol(dt));
        // max's gradient runs max_backward on the device.
        expect_cuda_matches_cpu(
            "max " + what,
            [&](const std::vector<Tensor>& in) { return std::vector{max(in[0], axes, keepdim)}; },
            {x}, tol(dt));
      }
    }
  }
}

TEST(CudaReduce, SizeOneAxesScalarsAndEmpty) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {float32, float64}) {
    Tensor x = normal_leaf({1, 5, 1, 3}, 2, dt);
    for (const auto& axes : std::vector<std::vector<int64_t>>{{0}, {2}, {0, 2}, {1, 3}, {}}) {
      expect_cuda_matches_cpu(
          std::string("sum size-1 axes ") + shape_str(axes),
          [&](const std::vector<Tensor>& in) { return std::vector{sum(in[0], axes, true)}; }, {x},
          tol(dt));
      expect_cuda_matches_cpu(
          std::string("max size-1 axes ") + shape_str(axes),
          [&](const std::vector<Tensor>& in) { return std::vector{max(in[0], axes, false)}; }, {x},
          tol(dt));
    }
    Tensor s = Tensor::full({}, 2.5, dt).requires_grad_();
    expect_cuda_matches_cpu(
        "sum of a 0-d tensor",
        [](const std::vector<Tensor>& in) { return std::vector{sum(in[0])}; }, {s}, tol(dt));
    // Empty reduced axes: sum 0, mean NaN (as PyTorch).
    Tensor e = Tensor::zeros({3, 0, 4}, dt);
    expect_cuda_matches_cpu(
        "sum over an empty axis",
        [](const std::vector<Tensor>& in) {
          return std::vector{sum(in[0], {1}), mean(in[0], {1}), sum(in[0], {0})};
        },
        {e}, tol(dt));
  }
}

TEST(CudaReduce, IntegerAndBoolSums) {
  DUET_REQUIRE_CUDA();
  Generator g(3);
  std::vector<int64_t> iv(4 * 5 * 6);
  for (auto& v : iv) v = static_cast<int64_t>(g.below(2000)) - 1000;
  Tensor xi = Tensor::from_vector(iv, {4, 5, 6});
  std::vector<double> bv(iv.size());
  for (size_t i = 0; i < iv.size(); ++i) bv[i] = iv[i] > 0 ? 1.0 : 0.0;
  Tensor xb = Tensor::from_vector(bv, {4, 5, 6}, bool_);
  for (const auto& axes : std::vector<std::vector<int64_t>>{{}, {0}, {2}, {0, 2}, {1}}) {
    expect_cuda_matches_cpu(
        "int64 sum/max " + shape_str(axes),
        [&](const std::vector<Tensor>& in) {
          return std::vector{sum(in[0], axes), max(in[0], axes, true)};
        },
        {xi}, 0);
    expect_cuda_matches_cpu(
        "bool sum " + shape_str(axes),
        [&](const std::vector<Tensor>& in) { return std::vector{sum(in[0], axes)}; }, {xb}, 0);
  }
}

TEST(CudaReduce, LargeInputs) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {float32, float64}) {
    Tensor flat = normal_leaf({1 << 20}, 4, dt);
    expect_cuda_matches_cpu(
        std::string("sum/mean/max of 2^20 elements ") + dtype_name(dt),
        [](const std::vector<Tensor>& in) {
          return std::vector{sum(in[0]), mean(in[0]), max(in[0])};
        },
        {flat}, tol(dt));
    Tensor sq = normal_leaf({1024, 1024}, 5, dt);
    for (int64_t axis : {0, 1}) {
      expect_cuda_matches_cpu(
          std::string("sum/mean/max of 1024 x 1024 along ") + std::to_string(axis),
          [axis](const std::vector<Tensor>& in) {
            return std::vector{sum(in[0], {axis}), mean(in[0], {axis}, true), max(in[0], {axis})};
          },
          {sq}, tol(dt));
    }
    // A long reduced axis with few outputs (a bias gradient), and a column reduction.
    Tensor tall = normal_leaf({100000, 10}, 6, dt);
    expect_cuda_matches_cpu(
        "sum of (100000, 10) along 0",
        [](const std::vector<Tensor>& in) { return std::vector{sum(in[0], {0})}; }, {tall},
        tol(dt));
    Tensor nchw = normal_leaf({16, 8, 32, 32}, 7, dt);
    expect_cuda_matches_cpu(
        "sum/mean of NCHW over (0, 2, 3)",
        [](const std::vector<Tensor>& in) {
          return std::vector{sum(in[0], {0, 2, 3}, true), mean(in[0], {0, 2, 3})};
        },
        {nchw}, tol(dt));
  }
}

TEST(CudaReduce, ArgmaxTiesAndNaN) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {float32, float64, int64}) {
    Tensor x = ties({7, 50, 3}, 8, dt);
    for (int64_t axis : {0, 1, 2, -1}) {
      for (bool keepdim : {false, true}) {
        expect_cuda_matches_cpu(
            std::string("argmax with ties along ") + std::to_string(axis),
            [&](const std::vector<Tensor>& in) {
              return std::vector{argmax(in[0], axis, keepdim)};
            },
            {x}, 0);
      }
    }
    Tensor big = ties({3, 100000}, 9, dt);
    expect_cuda_matches_cpu(
        "argmax of long rows",
        [](const std::vector<Tensor>& in) {
          return std::vector{argmax(in[0], 1), argmax(reshape(in[0], {-1}), 0)};
        },
        {big}, 0);
  }
  // NaN is maximal; the first NaN wins. Ties for max_backward: the first maximum gets the grad.
  Tensor n = Tensor::from_vector({1.0, NAN, 3.0, NAN, 3.0, 2.0, 3.0, 3.0}, {2, 4});
  expect_cuda_matches_cpu(
      "argmax with NaN",
      [](const std::vector<Tensor>& in) {
        return std::vector{argmax(in[0], 1), argmax(in[0], 0)};
      },
      {n}, 0);
  Tensor t = ties({5, 6, 7}, 10, float64).requires_grad_();
  for (const auto& axes : std::vector<std::vector<int64_t>>{{}, {1}, {0, 2}, {2}}) {
    expect_cuda_matches_cpu(
        "max with ties " + shape_str(axes),
        [&](const std::vector<Tensor>& in) { return std::vector{max(in[0], axes)}; }, {t}, 1e-12);
  }
}

TEST(CudaReduce, MaxBackwardAndItsGradient) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {float32, float64}) {
    Tensor x = ties({4, 5, 6}, 11, dt);
    for (const auto& axes : std::vector<std::vector<int64_t>>{{}, {1}, {0, 2}}) {
      for (bool keepdim : {false, true}) {
        Tensor g = normal_leaf(max(x, axes, keepdim).shape(), 12, dt);
        expect_cuda_matches_cpu(
            "max_backward " + axes_str(axes, keepdim),
            [&](const std::vector<Tensor>& in) {
              return std::vector{max_backward(in[0], in[1], axes, keepdim)};
            },
            {g, x}, tol(dt));
      }
    }
  }
}

TEST(CudaSoftmax, EveryAxisAndLongRows) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {float32, float64}) {
    struct Case {
      Shape shape;
      std::vector<int64_t> axes;
    };
    for (const Case& c : std::vector<Case>{{{8, 1000}, {1, 0}},
                                           {{1000, 8}, {0, 1}},
                                           {{4, 5, 6}, {0, 1, 2, -1}},
                                           {{3, 1, 700}, {1, 2}},
                                           {{64, 10}, {1}},
                                           {{5}, {0}}}) {
      Tensor x = normal_leaf(c.shape, 13, dt);
      for (int64_t axis : c.axes) {
        const std::string what = shape_str(c.shape) + " axis " + std::to_string(axis);
        expect_cuda_matches_cpu(
            "softmax " + what,
            [axis](const std::vector<Tensor>& in) { return std::vector{softmax(in[0], axis)}; },
            {x}, tol(dt));
        expect_cuda_matches_cpu(
            "log_softmax " + what,
            [axis](const std::vector<Tensor>& in) { return std::vector{log_softmax(in[0], axis)}; },
            {x}, tol(dt));
      }
    }
    // Large logits (stability).
    Tensor extreme =
        Tensor::from_vector({1000.0, 999.0, -1000.0, 0.0, -80.0, 5.0, -1e4, 1.0, 2.0}, {3, 3}, dt)
            .requires_grad_();
    expect_cuda_matches_cpu(
        "softmax of extreme values",
        [](const std::vector<Tensor>& in) {
          return std::vector{softmax(in[0], 1), log_softmax(in[0], 1)};
        },
        {extreme}, tol(dt));
    // A NaN makes its lane NaN and leaves the others alone; -inf gets probability 0.
    Tensor special = Tensor::from_vector({1.0, NAN, 3.0, 0.0, -INFINITY, 5.0}, {2, 3}, dt);
    expect_cuda_matches_cpu(
        "softmax with NaN and -inf",
        [](const std::vector<Tensor>& in) {
          return std::vector{softmax(in[0], 1), softmax(in[0], 0)};
        },
        {special}, tol(dt));
  }
}

TEST(CudaSoftmax, BackwardOpsAndTheirGradients) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {float32, float64}) {
    for (int64_t axis : {0, 1, 2}) {
      Tensor x = normal_leaf({5, 6, 7}, 14, dt);
      Tensor y = softmax(x.detach(), axis).requires_grad_();
      Tensor ly = log_softmax(x.detach(), axis).requires_grad_();
      Tensor g = normal_leaf({5, 6, 7}, 15, dt);
      expect_cuda_matches_cpu(
          "softmax_backward axis " + std::to_string(axis),
          [axis](const std::vector<Tensor>& in) {
            return std::vector{softmax_backward(in[0], in[1], axis)};
          },
          {g, y}, tol(dt) * 10);
      expect_cuda_matches_cpu(
          "log_softmax_backward axis " + std::to_string(axis),
          [axis](const std::vector<Tensor>& in) {
            return std::vector{log_softmax_backward(in[0], in[1], axis)};
          },
          {g, ly}, tol(dt) * 10);
    }
  }
}

TEST(CudaCrossEntropy, MatchesCpu) {
  DUET_REQUIRE_CUDA();
  for (DType dt : {float32, float64}) {
    for (auto [N, C] :
         std::vector<std::pair<int64_t, int64_t>>{{1, 2}, {32, 10}, {64, 1000}, {1000, 7}}) {
      Generator g(16);
      std::vector<int64_t> lv(N);
      for (auto& v : lv) v = static_cast<int64_t>(g.below(C));
      Tensor labels = Tensor::from_vector(lv, {N});
      Tensor logits = normal_leaf({N, C}, 17, dt);
      for (double eps : {0.0, 0.1, 1.0}) {
        const std::string what = std::string(dtype_name(dt)) + " N=" + std::to_string(N) +
                                 " C=" + std::to_string(C) + " smoothing " + std::to_string(eps);
        expect_cuda_matches_cpu(
            "cross_entropy " + what,
            [eps](const std::vector<Tensor>& in) {
              return std::vector{cross_entropy(in[0], in[1], eps)};
            },
            {logits, labels}, tol(dt));
        // cross_entropy_backward directly: its output and its own gradient rule.
        Tensor logp = log_softmax(logits.detach(), 1).requires_grad_();
        Tensor grad = Tensor::full({}, 0.75, dt).requires_grad_();
        expect_cuda_matches_cpu(
            "cross_entropy_backward " + what,
            [eps](const std::vector<Tensor>& in) {
              return std::vector{cross_entropy_backward(in[0], in[1], in[2], eps)};
            },
            {grad, logp, labels}, tol(dt));
      }
    }
  }
}

// The CPU rejects a label outside [0, C); a CUDA kernel cannot throw without a device->host
// sync, so the CUDA loss is NaN instead (and nothing outside the row is read).
TEST(CudaCrossEntropy, OutOfRangeLabelGivesNaN) {
  DUET_REQUIRE_CUDA();
  Tensor logits = Tensor::zeros({3, 4}).to(cuda);
  for (int64_t bad : {4, -1, 1000000}) {
    Tensor labels = Tensor::from_vector(std::vector<int64_t>{0, bad, 2}, {3}).to(cuda);
    Tensor loss = cross_entropy(logits, labels);
    EXPECT_TRUE(std::isnan(loss.item<float>())) << "label " << bad;
    Tensor dx = cross_entropy_backward(Tensor::ones({}).to(cuda), log_softmax(logits, 1), labels);
    std::vector<float> v = dx.to_vector<float>();
    EXPECT_FALSE(std::isnan(v[0]));
    EXPECT_TRUE(std::isnan(v[4]));
    EXPECT_FALSE(std::isnan(v[8]));
  }
}
