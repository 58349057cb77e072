// Batch normalisation: training and inference forward against hand references, running
// statistics (momentum, unbiased variance), finite-difference gradients and error paths.
#include <cmath>

#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

Tensor randf(const Shape& shape, uint64_t seed, DType dt = float32, double lo = -1, double hi = 1) {
  Generator g(seed);
  return Tensor::uniform(shape, lo, hi, g, dt);
}

// Per-channel mean and biased variance of x (N, C, ...), in double.
struct Stats {
  std::vector<double> mean, var;
  int64_t count = 0;
};

Stats channel_stats(const Tensor& x) {
  const int64_t N = x.size(0), C = x.size(1), S = x.numel() / (N * C);
  std::vector<double> v = x.to_vector<double>();
  Stats s{std::vector<double>(C, 0), std::vector<double>(C, 0), N * S};
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < S; ++i) s.mean[c] += v[(n * C + c) * S + i];
    s.mean[c] /= static_cast<double>(N * S);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < S; ++i) {
        const double d = v[(n * C + c) * S + i] - s.mean[c];
        s.var[c] += d * d;
      }
    s.var[c] /= static_cast<double>(N * S);
  }
  return s;
}

// y = (x - mean[c]) / sqrt(var[c] + eps) * w[c] + b[c]; w/b empty = 1/0.
Tensor ref_normalize(const Tensor& x, const std::vector<double>& mean,
                     const std::vector<double>& var, const std::vector<double>& w,
                     const std::vector<double>& b, double eps) {
  const int64_t N = x.size(0), C = x.size(1), S = x.numel() / (N * C);
  std::vector<double> v = x.to_vector<double>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < S; ++i) {
        double& e = v[(n * C + c) * S + i];
        e = (e - mean[c]) / std::sqrt(var[c] + eps) * (w.empty() ? 1.0 : w[c]) +
            (b.empty() ? 0.0 : b[c]);
      }
  return Tensor::from_vector(v, x.shape(), float64);
}

}  // namespace

// ---- values derived by hand, matching PyTorch ---------------------------------------------

TEST(BatchNormKnownValues, OneChannelFourValues) {
  // x = [1, 2, 3, 4] as (4, 1): mean 2.5, biased var 1.25, unbiased var 5/3.
  // bn = torch.nn.BatchNorm1d(1); bn(x): y = (x - 2.5) / sqrt(1.25 + 1e-5),
  // running_mean = 0.1 * 2.5 = 0.25, running_var = 0.9 + 0.1 * 5/3 = 1.0666667.
  Tensor x = Tensor::from_vector({1, 2, 3, 4}, {4, 1});
  Tensor rm = Tensor::zeros({1}), rv = Tensor::ones({1});
  Tensor y = batch_norm(x, {}, {}, rm, rv, true);
  const double s = 1 / std::sqrt(1.25 + 1e-5);
  expect_values(y, {-1.5 * s, -0.5 * s, 0.5 * s, 1.5 * s});
  expect_values(rm, {0.25});
  expect_values(rv, {0.9 + 0.1 * 5.0 / 3.0});
}

// ---- training forward ------------------------------------------------------------------------

TEST(BatchNormTrain, MatchesReferenceAndOutputsStats) {
  for (DType dt : {float32, float64}) {
    for (Shape s : {Shape{4, 3, 2, 5}, Shape{6, 4}, Shape{2, 3, 7}, Shape{2, 2, 2, 3, 2}}) {
      SCOPED_TRACE(shape_str(s));
      Tensor x = randf(s, 1, dt, -2, 3);
      const int64_t C = s[1];
      Tensor w = randf({C}, 2, dt, 0.5, 1.5), b = randf({C}, 3, dt);
      Stats st = channel_stats(x);
      std::vector<Tensor> r = batch_norm_train(x, w, b, 1e-5);
      ASSERT_EQ(r.size(), 4u);
      const double tol = dt == float32 ? 1e-5 : 1e-12;
      expect_close(
          r[0],
          ref_normalize(x, st.mean, st.var, w.to_vector<double>(), b.to_vector<double>(), 1e-5),
          tol, tol);
      expect_values(r[1], st.mean, tol);
      expect_values(r[3], st.var, tol);
      std::vector<double> inv(C);
      for (int64_t c = 0; c < C; ++c) inv[c] = 1 / std::sqrt(st.var[c] + 1e-5);
      expect_values(r[2], inv, tol);
      // The public function gives the same y, with or without affine parameters.
      expect_close(batch_norm(x, w, b, {}, {}, true), r[0], tol, tol);
      expect_close(batch_norm(x, {}, {}, {}, {}, true),
                   ref_normalize(x, st.mean, st.var, {}, {}, 1e-5), tol, tol);
    }
  }
}

TEST(BatchNormTrain, Float32StableWithLargeMean) {
  // mean 1000, std ~0.03: a one-pass sum-of-squares in float32 would lose everything.
  Tensor x = add(randf({8, 2, 16, 16}, 4, float32, -0.05, 0.05), 1000.0);
  Stats st = channel_stats(x);
  Tensor y = batch_norm(x, {}, {}, {}, {}, true);
  expect_close(y, ref_normalize(x, st.mean, st.var, {}, {}, 1e-5), 2e-3, 2e-3);
}

TEST(BatchNormTrain, RunningStatsAfterTwoUpdates) {
  Tensor rm = Tensor::from_vector({0.5, -1.0, 2.0}, {3});
  Tensor rv = Tensor::from_vector({1.0, 2.0, 0.5}, {3});
  std::vector<double> em = rm.to_vector<double>(), ev = rv.to_vector<double>();
  for (int step = 0; step < 2; ++step) {
    Tensor x = randf({4, 3, 3, 2}, 10 + step, float32, -1, 2);
    Stats st = channel_stats(x);
    const double n = static_cast<double>(st.count);  // 4 * 3 * 2 = 24
    for (int c = 0; c < 3; ++c) {
      em[c] = 0.9 * em[c] + 0.1 * st.mean[c];
      ev[c] = 0.9 * ev[c] + 0.1 * st.var[c] * n / (n - 1);
    }
    batch_norm(x, {}, {}, rm, rv, true, 0.1);
  }
  expect_values(rm, em, 1e-6);
  expect_values(rv, ev, 1e-6);
}

TEST(BatchNormTrain, RunningStatUpdateOp) {
  Tensor r = Tensor::from_vector({1, 2}, {2}, float64);
  running_stat_update_(r, Tensor::from_vector({3, 4}, {2}, float64), 0.25, 2.0);
  expect_values(r, {0.75 * 1 + 0.25 * 6, 0.75 * 2 + 0.25 * 8});
}

// ---- inference -------------------------------------------------------------------------------

TEST(BatchNormInference, MatchesReference) {
  for (DType dt : {float32, float64}) {
    for (Shape s : {Shape{3, 4, 5, 5}, Shape{7, 4}, Shape{2, 4, 3}}) {
      Tensor x = randf(s, 20, dt, -2, 2);
      Tensor w = randf({4}, 21, dt, 0.5, 1.5), b = randf({4}, 22, dt);
      Tensor rm = randf({4}, 23, dt), rv = randf({4}, 24, dt, 0.5, 2);
      std::vector<double> m = rm.to_vector<double>(), v = rv.to_vector<double>();
      const double tol = dt == float32 ? 1e-5 : 1e-12;
      expect_close(batch_norm(x, w, b, rm, rv, false, 0.1, 1e-3),
                   ref_normalize(x, m, v, w.to_vector<double>(), b.to_vector<double>(), 1e-3), tol,
                   tol);
      expect_close(batch_norm(x, {}, {}, rm, rv, false), ref_normalize(x, m, v, {}, {}, 1e-5), tol,
                   tol);
      // Running stats unchanged by inference.
      expect_values(rm, m, 0);
      expect_values(rv, v, 0);
    }
  }
}

TEST(BatchNormInference, ChannelAffine) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 2});
  Tensor s = Tensor::from_vector({2, -1}, {2}), t = Tensor::from_vector({1, 0}, {2});
  expect_values(channel_affine(x, s, t), {3, 5, -3, -4, 11, 13, -7, -8});
  expect_values(channel_affine(x.reshape({4, 2}), s, t), {3, -2, 7, -4, 11, -6, 15, -8});
}

// ---- gradients (float64 finite differences) ------------------------------------------------

TEST(BatchNormGrad, TrainingWrtInputWeightBias) {
  Tensor x = rand64({3, 2, 2, 3}, 30), w = rand64({2}, 31, 0.5, 1.5), b = rand64({2}, 32);
  gradcheck([](const std::vector<Tensor>& v) { return batch_norm(v[0], v[1], v[2], {}, {}, true); },
            {x, w, b});
  // Rank 2 (N, C) and rank 3 (N, C, L).
  gradcheck([](const std::vector<Tensor>& v) { return batch_norm(v[0], v[1], v[2], {}, {}, true); },
            {rand64({5, 3}, 33), rand64({3}, 34, 0.5, 1.5), rand64({3}, 35)});
  gradcheck([](const std::vector<Tensor>& v) { return batch_norm(v[0], v[1], v[2], {}, {}, true); },
            {rand64({2, 3, 4}, 36), rand64({3}, 37, 0.5, 1.5), rand64({3}, 38)});
  // No affine parameters; running statistics given (updated on every call, not differentiated).
  Tensor rm = Tensor::zeros({2}, float64), rv = Tensor::ones({2}, float64);
  gradcheck([&](const std::vector<Tensor>& v) { return batch_norm(v[0], {}, {}, rm, rv, true); },
            {rand64({3, 2, 2, 3}, 39)});
}

TEST(BatchNormGrad, TrainingOpDirectAndUnusedStatOutputs) {
  // Gradients through y only; the mean output used alongside gets no gradient (ignored).
  gradcheck(
      [](const std::vector<Tensor>& v) {
        std::vector<Tensor> r = batch_norm_train(v[0], v[1], v[2], 1e-3);
        return r[0] * r[0];
      },
      {rand64({4, 3, 2}, 40), rand64({3}, 41, 0.5, 1.5), rand64({3}, 42)});
}

TEST(BatchNormGrad, InferenceWrtEverything) {
  Tensor x = rand64({3, 2, 2, 3}, 50), w = rand64({2}, 51, 0.5, 1.5), b = rand64({2}, 52);
  Tensor rm = rand64({2}, 53), rv = rand64({2}, 54, 0.5, 2.0);
  gradcheck(
      [](const std::vector<Tensor>& v) { return batch_norm(v[0], v[1], v[2], v[3], v[4], false); },
      {x, w, b, rm, rv});
  gradcheck([](const std::vector<Tensor>& v) { return channel_affine(v[0], v[1], v[2]); },
            {rand64({4, 3}, 55), rand64({3}, 56), rand64({3}, 57)});
}

TEST(BatchNormGrad, BackwardOpMatchesTape) {
  // batch_norm_backward called directly equals the tape's gradients.
  Tensor x = rand64({3, 2, 4}, 60), w = rand64({2}, 61, 0.5, 1.5), b = rand64({2}, 62);
  Tensor gy = randf({3, 2, 4}, 63, float64);
  std::vector<Tensor> r = batch_norm_train(x, w, b, 1e-5);
  r[0].backward(gy);
  std::vector<Tensor> d = batch_norm_backward(gy, x.detach(), w.detach(), r[1], r[2]);
  expect_close(d[0], x.grad(), 1e-12, 1e-12);
  expect_close(d[1], w.grad(), 1e-12, 1e-12);
  expect_close(d[2], b.grad(), 1e-12, 1e-12);
  // grad_bias = sum(gy) per channel; sum of grad_x per channel is 0.
  std::vector<double> g = gy.to_vector<double>(), gx = d[0].to_vector<double>();
  for (int c = 0; c < 2; ++c) {
    double sg = 0, sx = 0;
    for (int n = 0; n < 3; ++n)
      for (int i = 0; i < 4; ++i) sg += g[(n * 2 + c) * 4 + i], sx += gx[(n * 2 + c) * 4 + i];
    EXPECT_NEAR(d[2].to_vector<double>()[c], sg, 1e-12);
    EXPECT_NEAR(sx, 0.0, 1e-12);
  }
}

// ---- errors ---------------------------------------------------------------------------------

TEST(BatchNormErrors, UserMistakes) {
  Tensor x = Tensor::zeros({2, 4, 3, 3});
  Tensor c4 = Tensor::ones({4}), c3 = Tensor::ones({3});
  EXPECT_DUET_ERROR(batch_norm(Tensor::zeros({4}), {}, {}, {}, {}, true), "batch_norm", "(4,)",
                    "rank >= 2");
  EXPECT_DUET_ERROR(batch_norm(x, c3, c4, {}, {}, true), "batch_norm", "weight", "(3,)",
                    "4 channels");
  EXPECT_DUET_ERROR(batch_norm(x, c4, c3, {}, {}, true), "batch_norm", "bias", "(3,)");
  EXPECT_DUET_ERROR(batch_norm(x, c4, c4, c3, c4, true), "batch_norm", "running_mean", "(3,)");
  EXPECT_DUET_ERROR(batch_norm(x, c4, c4, c4, c3, false), "batch_norm", "running_var", "(3,)");
  EXPECT_DUET_ERROR(batch_norm(x, c4, c4, {}, {}, false), "batch_norm", "running_mean",
                    "running_var", "inference");
  EXPECT_DUET_ERROR(batch_norm(x, c4, c4, c4, {}, false), "batch_norm", "running_var");
  EXPECT_DUET_ERROR(batch_norm(x, Tensor::ones({4}, float64), {}, {}, {}, true), "batch_norm",
                    "weight", "dtype");
  EXPECT_DUET_ERROR(batch_norm(Tensor::zeros({1, 4}), {}, {}, {}, {}, true), "batch_norm",
                    "more than 1 value per channel");
  EXPECT_DUET_ERROR(batch_norm(Tensor::zeros({2, 4}, int64), {}, {}, {}, {}, true),
                    "batch_norm_train", "dtype");
  EXPECT_DUET_ERROR(batch_norm_train(x, c4, c3, 1e-5), "batch_norm_train", "bias");
  EXPECT_DUET_ERROR(batch_norm_backward(Tensor::zeros({2, 4}), x, c4, c4, c4),
                    "batch_norm_backward", "grad_y");
  EXPECT_DUET_ERROR(running_stat_update_(c4, c3, 0.1), "running_stat_update_", "(4,)", "(3,)");
  EXPECT_DUET_ERROR(channel_affine(x, c3, c4), "channel_affine", "scale");
  Tensor leaf = Tensor::zeros({4}).requires_grad_();
  EXPECT_DUET_ERROR(running_stat_update_(leaf, c4, 0.1), "running_stat_update_", "in place");
}
