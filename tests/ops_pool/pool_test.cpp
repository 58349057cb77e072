// Pooling ops: hand-derived PyTorch values, naive references over many configurations,
// adjointness of the backward ops, finite-difference gradients and error paths.
#include <cmath>
#include <limits>

#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

Tensor arange_f(int64_t n, const Shape& shape, DType dt = float32) {
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<double>(i);
  return Tensor::from_vector(v, shape, dt);
}

Tensor randf(const Shape& shape, uint64_t seed, DType dt = float32) {
  Generator g(seed);
  return Tensor::uniform(shape, -1, 1, g, dt);
}

double dot(const Tensor& a, const Tensor& b) {
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  double s = 0;
  for (size_t i = 0; i < x.size(); ++i) s += x[i] * y[i];
  return s;
}

// Output size from the PyTorch documentation (floor / ceil of the same quotient, and with
// ceil_mode the last window must start inside the input or the left padding).
int64_t ref_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode) {
  double q = static_cast<double>(in + 2 * p - d * (k - 1) - 1) / static_cast<double>(s);
  int64_t out = static_cast<int64_t>(ceil_mode ? std::ceil(q) : std::floor(q)) + 1;
  if (ceil_mode && (out - 1) * s >= in + p) --out;
  return out;
}

struct Ref {
  Tensor values, indices;
};

// Naive pooling straight from the definitions. x: (P, H, W) flattened planes of `shape`.
Ref ref_pool(const Tensor& x, const Pool2dOptions& o, bool is_max) {
  const Shape& s = x.shape();
  const size_t r = s.size();
  const int64_t H = s[r - 2], W = s[r - 1], P = x.numel() / (H * W);
  const int64_t kh = o.kernel[0], kw = o.kernel[1];
  const int64_t sh = o.stride[0] ? o.stride[0] : kh, sw = o.stride[1] ? o.stride[1] : kw;
  const int64_t ph = o.padding[0], pw = o.padding[1];
  const int64_t dh = is_max ? o.dilation[0] : 1, dw = is_max ? o.dilation[1] : 1;
  const int64_t OH = ref_out(H, kh, sh, ph, dh, o.ceil_mode);
  const int64_t OW = ref_out(W, kw, sw, pw, dw, o.ceil_mode);
  std::vector<double> xv = x.to_vector<double>(), yv, iv;
  for (int64_t p = 0; p < P; ++p) {
    for (int64_t oh = 0; oh < OH; ++oh) {
      for (int64_t ow = 0; ow < OW; ++ow) {
        double best = -std::numeric_limits<double>::infinity(), sum = 0;
        int64_t best_i = -1, inside = 0, in_padded = 0;
        for (int64_t i = 0; i < kh; ++i) {
          for (int64_t j = 0; j < kw; ++j) {
            const int64_t ih = oh * sh - ph + i * dh, iw = ow * sw - pw + j * dw;
            if (ih < H + ph && iw < W + pw) ++in_padded;  // left padding is never passed
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            const double v = xv[p * H * W + ih * W + iw];
            ++inside;
            sum += v;
            if (best_i < 0 || v > best) best = v, best_i = ih * W + iw;
          }
        }
        if (is_max) {
          yv.push_back(best);
          iv.push_back(static_cast<double>(best_i));
        } else {
          yv.push_back(inside ? sum / (o.count_include_pad ? in_padded : inside) : 0.0);
        }
      }
    }
  }
  Shape os = s;
  os[r - 2] = OH;
  os[r - 1] = OW;
  Ref out{Tensor::from_vector(yv, os, float64), Tensor()};
  if (is_max) out.indices = Tensor::from_vector(iv, os, int64);
  return out;
}

Tensor ref_adaptive(const Tensor& x, int64_t OH, int64_t OW) {
  const Shape& s = x.shape();
  const size_t r = s.size();
  const int64_t H = s[r - 2], W = s[r - 1], P = x.numel() / (H * W);
  std::vector<double> xv = x.to_vector<double>(), yv;
  for (int64_t p = 0; p < P; ++p) {
    for (int64_t oh = 0; oh < OH; ++oh) {
      const int64_t h0 = static_cast<int64_t>(std::floor(double(oh) * H / OH));
      const int64_t h1 = static_cast<int64_t>(std::ceil(double(oh + 1) * H / OH));
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t w0 = static_cast<int64_t>(std::floor(double(ow) * W / OW));
        const int64_t w1 = static_cast<int64_t>(std::ceil(double(ow + 1) * W / OW));
        double sum = 0;
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) sum += xv[p * H * W + ih * W + iw];
        yv.push_back(sum / double((h1 - h0) * (w1 - w0)));
      }
    }
  }
  Shape os = s;
  os[r - 2] = OH;
  os[r - 1] = OW;
  return Tensor::from_vector(yv, os, float64);
}

std::string describe(const Shape& s, const Pool2dOptions& o) {
  return detail::cat(shape_str(s), " k", o.kernel[0], "x", o.kernel[1], " s", o.stride[0], "x",
                     o.stride[1], " p", o.padding[0], "x", o.padding[1], " d", o.dilation[0], "x",
                     o.dilation[1], " ceil", o.ceil_mode, " cip", o.count_include_pad);
}

// Every (kernel, stride, padding, ceil_mode) combination that PyTorch accepts for `s`.
std::vector<Pool2dOptions> configs(const Shape& s, bool with_dilation) {
  std::vector<Pool2dOptions> r;
  const int64_t H = s[s.size() - 2], W = s[s.size() - 1];
  for (int64_t k : {2, 3})
    for (int64_t st : {1, 2})
      for (int64_t p : {0, 1})
        for (int64_t d : with_dilation ? std::vector<int64_t>{1, 2} : std::vector<int64_t>{1})
          for (bool ceil_mode : {false, true}) {
            if (ref_out(H, k, st, p, d, ceil_mode) < 1 || ref_out(W, k, st, p, d, ceil_mode) < 1)
              continue;
            Pool2dOptions o;
            o.kernel = {k, k};
            o.stride = {st, st};
            o.padding = {p, p};
            o.dilation = {d, d};
            o.ceil_mode = ceil_mode;
            r.push_back(o);
          }
  // Non-square kernel / stride / padding.
  Pool2dOptions o;
  o.kernel = {3, 2};
  o.stride = {2, 1};
  o.padding = {1, 0};
  o.ceil_mode = true;
  r.push_back(o);
  return r;
}

}  // namespace

// ---- values derived by hand, matching PyTorch ---------------------------------------------

TEST(PoolKnownValues, MaxPool2x2OnArange) {
  // torch.nn.functional.max_pool2d(torch.arange(16.).view(1, 1, 4, 4), 2, return_indices=True)
  std::vector<Tensor> r = max_pool2d_with_indices(arange_f(16, {1, 1, 4, 4}), {});
  expect_values(r[0], {5, 7, 13, 15});
  EXPECT_EQ(r[1].dtype(), int64);
  EXPECT_EQ(r[1].to_vector<int64_t>(), (std::vector<int64_t>{5, 7, 13, 15}));
  // With a gradient: values require grad, indices never do.
  std::vector<Tensor> g = max_pool2d_with_indices(arange_f(16, {1, 1, 4, 4}).requires_grad_(), {});
  EXPECT_TRUE(g[0].requires_grad());
  EXPECT_FALSE(g[1].requires_grad());
}

TEST(PoolKnownValues, AvgPoolCeilModeClipsDivisorAtPaddedBorder) {
  // F.avg_pool2d(torch.ones(1, 1, 4, 4), 3, stride=2, padding=1, ceil_mode=True)
  Pool2dOptions o{.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}, .ceil_mode = true};
  Tensor y = avg_pool2d(Tensor::ones({1, 1, 4, 4}), o);
  ASSERT_EQ(y.shape(), (Shape{1, 1, 3, 3}));
  expect_values(y, {4. / 9, 6. / 9, 1. / 3, 6. / 9, 1, 1. / 2, 1. / 3, 1. / 2, 1. / 4});
  // count_include_pad=False: every window averages ones.
  o.count_include_pad = false;
  expect_values(avg_pool2d(Tensor::ones({1, 1, 4, 4}), o), std::vector<double>(9, 1.0));
  // F.avg_pool2d(torch.ones(1, 1, 5, 5), 2, ceil_mode=True): the half windows divide by 2 or 1.
  expect_values(avg_pool2d(Tensor::ones({1, 1, 5, 5}), {.ceil_mode = true}),
                std::vector<double>(9, 1.0));
}

TEST(PoolKnownValues, AdaptiveOverlappingWindows) {
  // F.adaptive_avg_pool2d(torch.arange(3.).view(1, 1, 1, 3), (1, 2)) = [[0.5, 1.5]]
  expect_values(adaptive_avg_pool2d(arange_f(3, {1, 1, 1, 3}), {1, 2}), {0.5, 1.5});
  // (1, 3) -> (1, 5): windows [0,1) [0,2) [1,2) [1,3) [2,3)
  expect_values(adaptive_avg_pool2d(arange_f(3, {1, 1, 1, 3}), {1, 5}), {0, 0.5, 1, 1.5, 2});
}

TEST(PoolKnownValues, MaxPoolPropagatesNaN) {
  Tensor x = Tensor::from_vector({1, NAN, 3, 2}, {1, 1, 2, 2});
  std::vector<Tensor> r = max_pool2d_with_indices(x, {});
  EXPECT_TRUE(std::isnan(r[0].item<double>()));
  EXPECT_EQ(r[1].item<int64_t>(), 1);
}

// ---- forward against naive references ------------------------------------------------------

TEST(MaxPool2d, MatchesReferenceOverConfigs) {
  int count = 0;
  for (Shape s : {Shape{2, 3, 7, 7}, Shape{1, 2, 6, 5}, Shape{1, 1, 4, 4}, Shape{3, 5, 5}}) {
    for (DType dt : {float32, float64}) {
      Tensor x = randf(s, 10 + count, dt);
      for (const Pool2dOptions& o : configs(s, true)) {
        SCOPED_TRACE(describe(s, o));
        std::vector<Tensor> r = max_pool2d_with_indices(x, o);
        Ref ref = ref_pool(x, o, true);
        expect_close(r[0], ref.values);
        EXPECT_EQ(r[1].to_vector<int64_t>(), ref.indices.to_vector<int64_t>());
        EXPECT_EQ(r[0].dtype(), dt);
        ++count;
      }
    }
  }
  EXPECT_GT(count, 100);
}

TEST(AvgPool2d, MatchesReferenceOverConfigs) {
  int count = 0;
  for (Shape s : {Shape{2, 3, 7, 7}, Shape{1, 2, 6, 5}, Shape{1, 1, 4, 4}, Shape{3, 5, 5}}) {
    for (bool cip : {false, true}) {
      Tensor x = randf(s, 20 + count, cip ? float32 : float64);
      for (Pool2dOptions o : configs(s, false)) {
        o.count_include_pad = cip;
        SCOPED_TRACE(describe(s, o));
        expect_close(avg_pool2d(x, o), ref_pool(x, o, false).values);
        ++count;
      }
    }
  }
  EXPECT_GT(count, 60);
}

TEST(AdaptiveAvgPool2d, MatchesReferenceSmallerLargerAndMixed) {
  Tensor x7 = randf({2, 3, 7, 7}, 30), x5 = randf({1, 2, 5, 5}, 31, float64);
  expect_close(adaptive_avg_pool2d(x7, {9, 9}), ref_adaptive(x7, 9, 9));
  expect_close(adaptive_avg_pool2d(x5, {3, 3}), ref_adaptive(x5, 3, 3));
  expect_close(adaptive_avg_pool2d(x7, {1, 1}), ref_adaptive(x7, 1, 1));
  expect_close(adaptive_avg_pool2d(x7, {3, 10}), ref_adaptive(x7, 3, 10));
  expect_close(adaptive_avg_pool2d(x7, {7, 7}), x7);
  Tensor x3 = randf({4, 6, 5}, 32);  // (C, H, W)
  expect_close(adaptive_avg_pool2d(x3, {4, 2}), ref_adaptive(x3, 4, 2));
}

TEST(AdaptiveAvgPool2d, GlobalPoolIsTheMean) {
  Tensor x = arange_f(2 * 3 * 4, {1, 2, 3, 4});
  Tensor y = adaptive_avg_pool2d(x, {1, 1});
  ASSERT_EQ(y.shape(), (Shape{1, 2, 1, 1}));
  expect_values(y, {5.5, 17.5});
}

// ---- backward ops ----------------------------------------------------------------------------

TEST(MaxPool2dBackward, ScatterAddsAtIndices) {
  // Overlapping windows (k3, s1) select the same element several times: gradients add up.
  Tensor x = Tensor::from_vector({0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0}, {1, 1, 3, 4});
  Tensor g = Tensor::from_vector({1, 2}, {1, 1, 1, 2});
  std::vector<Tensor> r = max_pool2d_with_indices(x, {.kernel = {3, 3}, .stride = {1, 1}});
  expect_values(r[1].to(float64), {6, 6});
  expect_values(max_pool2d_backward(g, r[1], x.shape()), {0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0});
}

TEST(PoolBackward, AdjointOfForward) {
  // <pool(x), g> == <x, pool_backward(g)> for the linear maps (max with fixed indices).
  for (const Pool2dOptions& o : configs({2, 3, 7, 6}, false)) {
    SCOPED_TRACE(describe({2, 3, 7, 6}, o));
    Tensor x = randf({2, 3, 7, 6}, 40, float64);
    Pool2dOptions a = o;
    for (bool cip : {false, true}) {
      a.count_include_pad = cip;
      Tensor y = avg_pool2d(x, a);
      Tensor g = randf(y.shape(), 41, float64);
      EXPECT_NEAR(dot(y, g), dot(x, avg_pool2d_backward(g, x.shape(), a)), 1e-10);
    }
    std::vector<Tensor> m = max_pool2d_with_indices(x, o);
    Tensor g = randf(m[0].shape(), 42, float64);
    EXPECT_NEAR(dot(m[0], g), dot(x, max_pool2d_backward(g, m[1], x.shape())), 1e-10);
    expect_close(max_pool2d_gather(x, m[1]), m[0]);
  }
  Tensor x = randf({1, 2, 5, 7}, 43, float64);
  for (std::array<int64_t, 2> os : {std::array<int64_t, 2>{3, 3}, {9, 9}, {2, 11}}) {
    Tensor y = adaptive_avg_pool2d(x, os);
    Tensor g = randf(y.shape(), 44, float64);
    EXPECT_NEAR(dot(y, g), dot(x, adaptive_avg_pool2d_backward(g, x.shape())), 1e-10);
  }
}

// ---- gradients (float64 finite differences) ------------------------------------------------

TEST(PoolGrad, MaxPool2d) {
  for (Pool2dOptions o :
       {Pool2dOptions{.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}, .ceil_mode = true},
        Pool2dOptions{.kernel = {2, 2}, .stride = {1, 1}, .dilation = {2, 2}}, Pool2dOptions{}}) {
    SCOPED_TRACE(describe({2, 2, 5, 5}, o));
    gradcheck([o](const std::vector<Tensor>& x) { return max_pool2d(x[0], o); },
              {rand64({2, 2, 5, 5}, 50)});
  }
}

TEST(PoolGrad, AvgPool2d) {
  for (bool cip : {false, true}) {
    for (bool ceil_mode : {false, true}) {
      Pool2dOptions o{.kernel = {3, 3},
                      .stride = {2, 2},
                      .padding = {1, 1},
                      .ceil_mode = ceil_mode,
                      .count_include_pad = cip};
      SCOPED_TRACE(describe({1, 2, 6, 5}, o));
      gradcheck([o](const std::vector<Tensor>& x) { return avg_pool2d(x[0], o); },
                {rand64({1, 2, 6, 5}, 51)});
    }
  }
}

TEST(PoolGrad, AdaptiveAvgPool2d) {
  for (std::array<int64_t, 2> os : {std::array<int64_t, 2>{3, 3}, {7, 6}, {1, 1}}) {
    gradcheck([os](const std::vector<Tensor>& x) { return adaptive_avg_pool2d(x[0], os); },
              {rand64({2, 1, 5, 4}, 52)});
  }
}

TEST(PoolGrad, BackwardOpsAreDifferentiable) {
  Tensor x = randf({1, 2, 5, 5}, 53, float64);
  Pool2dOptions o{.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}, .ceil_mode = true};
  Tensor idx = max_pool2d_with_indices(x, o)[1];
  const Shape xs = x.shape();
  // max_pool2d_backward (grad: gather) and max_pool2d_gather (grad: scatter-add).
  gradcheck([&](const std::vector<Tensor>& g) { return max_pool2d_backward(g[0], idx, xs); },
            {rand64(idx.shape(), 54)});
  gradcheck([&](const std::vector<Tensor>& v) { return max_pool2d_gather(v[0], idx); },
            {rand64(xs, 55)});
  for (bool cip : {false, true}) {
    o.count_include_pad = cip;
    gradcheck([&](const std::vector<Tensor>& g) { return avg_pool2d_backward(g[0], xs, o); },
              {rand64(idx.shape(), 56)});
  }
  gradcheck([&](const std::vector<Tensor>& g) { return adaptive_avg_pool2d_backward(g[0], xs); },
            {rand64({1, 2, 7, 3}, 57)});
}

TEST(PoolGrad, ChainedThroughOtherOps) {
  gradcheck(
      [](const std::vector<Tensor>& x) {
        Tensor y = max_pool2d(x[0] * x[0], {.kernel = {2, 2}, .stride = {1, 1}});
        return adaptive_avg_pool2d(avg_pool2d(y, {.kernel = {2, 2}, .stride = {1, 1}}), {2, 2});
      },
      {rand64({1, 3, 6, 6}, 58)});
}

// ---- errors ---------------------------------------------------------------------------------

TEST(PoolErrors, UserMistakes) {
  Tensor x = Tensor::zeros({1, 2, 4, 4});
  EXPECT_DUET_ERROR(max_pool2d(Tensor::zeros({4, 4}), {}), "max_pool2d", "(4, 4)", "rank");
  EXPECT_DUET_ERROR(avg_pool2d(Tensor::zeros({1, 1, 1, 4, 4}), {}), "avg_pool2d", "rank");
  EXPECT_DUET_ERROR(adaptive_avg_pool2d(Tensor::zeros({4}), {1, 1}), "adaptive_avg_pool2d", "rank");
  // Kernel larger than the input.
  EXPECT_DUET_ERROR(max_pool2d(x, {.kernel = {5, 5}}), "max_pool2d", "output size", "(1, 2, 4, 4)");
  EXPECT_DUET_ERROR(avg_pool2d(x, {.kernel = {2, 5}}), "avg_pool2d", "output size");
  EXPECT_DUET_ERROR(max_pool2d(x, {.kernel = {2, 2}, .dilation = {4, 4}}), "output size");
  // Padding more than half the kernel.
  EXPECT_DUET_ERROR(max_pool2d(x, {.kernel = {3, 3}, .padding = {2, 1}}), "max_pool2d",
                    "padding (2, 1)", "kernel / 2");
  EXPECT_DUET_ERROR(avg_pool2d(x, {.kernel = {2, 2}, .padding = {0, 2}}), "avg_pool2d", "padding");
  EXPECT_DUET_ERROR(max_pool2d(x, {.kernel = {0, 2}}), "max_pool2d", "kernel");
  EXPECT_DUET_ERROR(max_pool2d(x, {.stride = {-1, 1}}), "max_pool2d", "stride");
  EXPECT_DUET_ERROR(avg_pool2d(x, {.dilation = {2, 2}}), "avg_pool2d", "dilation");
  EXPECT_DUET_ERROR(adaptive_avg_pool2d(x, {0, 2}), "adaptive_avg_pool2d", "output_size");
  EXPECT_DUET_ERROR(max_pool2d(Tensor::zeros({1, 1, 4, 4}, int64), {}), "max_pool2d", "dtype");
  EXPECT_DUET_ERROR(adaptive_avg_pool2d(Tensor::zeros({1, 1, 0, 4}), {1, 1}), "non-zero");
}

TEST(PoolErrors, BackwardMistakes) {
  Tensor g = Tensor::zeros({1, 2, 2, 2});
  Tensor idx = Tensor::zeros({1, 2, 2, 2}, int64);
  EXPECT_DUET_ERROR(max_pool2d_backward(g, idx.to(float32), {1, 2, 4, 4}), "max_pool2d_backward",
                    "indices", "int64");
  EXPECT_DUET_ERROR(max_pool2d_backward(g, idx, {1, 3, 4, 4}), "max_pool2d_backward",
                    "(1, 3, 4, 4)");
  EXPECT_DUET_ERROR(max_pool2d_backward(g, Tensor::full({1, 2, 2, 2}, 16, int64), {1, 2, 4, 4}),
                    "max_pool2d_backward", "outside");
  EXPECT_DUET_ERROR(
      max_pool2d_gather(Tensor::zeros({1, 2, 4, 4}), Tensor::full({1, 2, 2, 2}, -2, int64)),
      "max_pool2d_gather", "outside");
  EXPECT_DUET_ERROR(avg_pool2d_backward(g, {1, 2, 5, 5}, {.kernel = {3, 3}}), "avg_pool2d_backward",
                    "(1, 2, 2, 2)", "(1, 2, 1, 1)");
  EXPECT_DUET_ERROR(adaptive_avg_pool2d_backward(g, {2, 2, 4, 4}), "adaptive_avg_pool2d_backward",
                    "input_shape");
}
