// The loss-scaling ops (src/ops/amp_ops.h): amp_unscale's values and inf/NaN flag against a
// naive reference, and amp_update_scale_'s scale sequence against torch.cuda.amp.GradScaler's
// documented rule (torch._amp_update_scale_; the sequence below is that rule applied by hand:
// torch 1.13 has no CPU kernel for it). Errors name the op and what was expected.
#include <cmath>
#include <limits>

#include "duet/duet.h"
#include "ops/amp_ops.h"
#include "ops/op_def.h"
#include "test_util.h"

using namespace duet;

namespace {

Tensor f32(float v) {
  return Tensor::full({}, v, float32);
}

}  // namespace

TEST(AmpUnscale, MultipliesAndFlagsNonFinite) {
  for (DType dt : {float32, float64}) {
    SCOPED_TRACE(dtype_name(dt));
    const Tensor a = Tensor::from_vector(std::vector<double>{1.5, -2.0, 3.25}, {3}).to(dt);
    const Tensor b = Tensor::from_vector(std::vector<double>{4.0, 0.0, -8.0, 1e-3}, {2, 2}).to(dt);
    auto [found, out] = amp::unscale({a, Tensor(), b}, f32(0.25f));
    EXPECT_EQ(found.item<float>(), 0.0f);
    ASSERT_EQ(out.size(), 3u);
    EXPECT_FALSE(out[1].defined());  // no gradient in, none out
    EXPECT_EQ(out[0].dtype(), dt);
    EXPECT_EQ(out[2].shape(), (Shape{2, 2}));
    duet::test::expect_values(out[0], {0.375, -0.5, 0.8125}, 0);
    duet::test::expect_values(out[2], {1.0, 0.0, -2.0, 0.25e-3}, 1e-7);
  }
}

TEST(AmpUnscale, FindsInfAndNanInAnyGradient) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (double bad : {inf, -inf, nan}) {
    for (int where = 0; where < 2; ++where) {
      std::vector<double> v0{1, 2, 3}, v1(100000, 0.5);  // v1: several parallel chunks
      (where == 0 ? v0[1] : v1[77777]) = bad;
      auto [found, out] = amp::unscale(
          {Tensor::from_vector(v0, {3}), Tensor::from_vector(v1, {100000})}, f32(0.5f));
      EXPECT_EQ(found.item<float>(), 1.0f) << bad << " in gradient " << where;
      // The finite elements are unscaled all the same (as torch).
      EXPECT_EQ(out[0].to_vector<double>()[0], 0.5);
    }
  }
  // found_inf chains: a flag that is already set stays set.
  auto [found, out] = amp::unscale({Tensor::ones({2})}, f32(1.0f));
  EXPECT_EQ(found.item<float>(), 0.0f);
  std::vector<Tensor> r =
      call_op(*find_op("amp_unscale"), {Tensor::ones({2}), f32(1.0f), f32(1.0f)});
  EXPECT_EQ(r[1].item<float>(), 1.0f);
  // No gradient at all: a zero flag.
  auto [none, empty] = amp::unscale({Tensor()}, f32(1.0f));
  EXPECT_EQ(none.item<float>(), 0.0f);
}

TEST(AmpUnscale, Float16GradientsKeepTheirDtype) {
  // 60000 overflows nothing in float16; 2 * 65504 does, on the scaled side.
  const Tensor g = Tensor::from_vector(std::vector<double>{60000.0, -3.0, 0.5}, {3}).to(float16);
  auto [found, out] = amp::unscale({g}, f32(1.0f / 1024));
  EXPECT_EQ(out[0].dtype(), float16);
  EXPECT_EQ(found.item<float>(), 0.0f);
  // Exact in float16: 60000 / 1024 = 58.59375, -3 / 1024, 0.5 / 1024.
  duet::test::expect_values(out[0], {58.59375, -3.0 / 1024, 0.5 / 1024}, 0);
  const Tensor overflow = mul(g, 2.0);  // 120000 -> inf in float16
  auto [found2, out2] = amp::unscale({overflow}, f32(1.0f));
  EXPECT_EQ(found2.item<float>(), 1.0f);
}

TEST(AmpUnscale, Errors) {
  const OpDef& op = *find_op("amp_unscale");
  EXPECT_DUET_ERROR(call_op(op, {Tensor::ones({2}), Tensor::ones({1})}), "amp_unscale", "inv_scale",
                    "(1,)", "float32 scalar");
  EXPECT_DUET_ERROR(call_op(op, {Tensor::ones({2}), Tensor::full({}, 1.0, float64)}), "amp_unscale",
                    "inv_scale", "float64");
  EXPECT_DUET_ERROR(call_op(op, {Tensor::zeros({2}, int64), f32(1.0f)}), "amp_unscale", "int64",
                    "expected float32, float64");
  EXPECT_DUET_ERROR(call_op(op, {Tensor::ones({2}), f32(1.0f), Tensor::zeros({}, int64)}),
                    "amp_unscale", "found_inf", "int64");
  EXPECT_DUET_ERROR(call_op(op, {Tensor::ones({2})}), "amp_unscale", "got 1 inputs");
}

// torch._amp_update_scale_(scale, growth_tracker, found_inf, growth_factor=2,
// backoff_factor=0.5, growth_interval=3), step by step.
TEST(AmpUpdateScale, MatchesTorchRuleSequence) {
  const int infs[] = {0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0};
  const float scales[] = {65536, 65536, 32768, 32768, 32768, 65536, 32768,
                          16384, 16384, 16384, 32768, 32768, 32768, 65536};
  const int64_t trackers[] = {1, 2, 0, 1, 2, 0, 0, 0, 1, 2, 0, 1, 2, 0};
  Tensor scale = f32(65536.0f), tracker = Tensor::zeros({}, int64);
  Tensor skipped = Tensor::zeros({}, int64);
  for (int i = 0; i < 14; ++i) {
    amp::update_scale_(scale, tracker, f32(static_cast<float>(infs[i])), skipped, 2.0, 0.5, 3);
    EXPECT_EQ(scale.item<float>(), scales[i]) << "step " << i;
    EXPECT_EQ(tracker.item<int64_t>(), trackers[i]) << "step " << i;
  }
  EXPECT_EQ(skipped.item<int64_t>(), 3);
}

TEST(AmpUpdateScale, FormulaWithOtherFactorsAndNoGrowthToInf) {
  // backoff 0.25, growth 1.5, interval 1: every good step grows, in double then float32.
  Tensor scale = f32(1000.0f), tracker = Tensor::zeros({}, int64);
  amp::update_scale_(scale, tracker, f32(0.0f), Tensor(), 1.5, 0.25, 1);
  EXPECT_EQ(scale.item<float>(), 1500.0f);
  amp::update_scale_(scale, tracker, f32(1.0f), Tensor(), 1.5, 0.25, 1);
  EXPECT_EQ(scale.item<float>(), 375.0f);
  EXPECT_EQ(tracker.item<int64_t>(), 0);
  // Growing 2^127 by 2 would be inf in float32: the scale stays, the tracker restarts.
  Tensor big = f32(std::ldexp(1.0f, 127));
  amp::update_scale_(big, tracker, f32(0.0f), Tensor(), 2.0, 0.5, 1);
  EXPECT_EQ(big.item<float>(), std::ldexp(1.0f, 127));
  EXPECT_EQ(tracker.item<int64_t>(), 0);
}

TEST(AmpUpdateScale, Errors) {
  Tensor scale = f32(2.0f), tracker = Tensor::zeros({}, int64);
  EXPECT_DUET_ERROR(amp::update_scale_(scale, tracker, f32(0.0f), Tensor(), 1.0, 0.5, 3),
                    "amp_update_scale_", "growth_factor = 1", "> 1");
  EXPECT_DUET_ERROR(amp::update_scale_(scale, tracker, f32(0.0f), Tensor(), 2.0, 1.5, 3),
                    "amp_update_scale_", "backoff_factor = 1.5", "(0, 1)");
  EXPECT_DUET_ERROR(amp::update_scale_(scale, tracker, f32(0.0f), Tensor(), 2.0, 0.5, 0),
                    "amp_update_scale_", "growth_interval = 0", ">= 1");
  EXPECT_DUET_ERROR(
      amp::update_scale_(scale, Tensor::zeros({}, float32), f32(0.0f), Tensor(), 2, 0.5, 3),
      "amp_update_scale_", "growth_tracker", "float32", "int64 scalar");
  EXPECT_DUET_ERROR(amp::update_scale_(Tensor::ones({1}), tracker, f32(0.0f), Tensor(), 2, 0.5, 3),
                    "amp_update_scale_", "scale has shape (1,)");
  // Nothing changed by the refused calls.
  EXPECT_EQ(scale.item<float>(), 2.0f);
  EXPECT_EQ(tracker.item<int64_t>(), 0);
}
