// depthwise_conv2d_nchwc and conv2d_nchwc with format "plain_input" (the stem) against the plain
// conv2d_fused on plain tensors: x blocked (its padding lanes hold garbage that must not reach a
// real channel), the weight packed per the spec (kernels/nchwc_kernels.h), the blocked result
// unblocked. Channel counts that do not fill their last block, strides 1 / 2 / 3, 3x3 / 5x5 /
// 7x7 kernels, padding 0..3, dilation 2, every fusable activation, bias, residual; each kernel
// path of this CPU (generic, and AVX-512 for float32), float32 and float64. The blocking and
// packing are written here from the spec's index formulas, so these tests check this part's
// kernels alone; to_nchwc / nchwc_pack_weight have their own tests.
#include <cmath>
#include <string>
#include <vector>

#include "nchwc_test_util.h"
#include "ops/op_def.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

using namespace duet::nchwc_test;

const char* kActs[] = {"none", "relu", "relu6", "sigmoid", "silu", "hardswish", "softplus"};

// Depthwise w (C, 1, KH, KW) -> (Cb, KH, KW, 16), zero-padded.
Tensor pack_depthwise(const Tensor& w) {
  const Shape& s = w.shape();
  const int64_t c = s[0], taps = s[2] * s[3], cb = (c + B - 1) / B;
  const std::vector<double> v = w.to_vector<double>();
  std::vector<double> r(static_cast<size_t>(cb * taps * B), 0.0);
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t t = 0; t < taps; ++t) r[((ch / B) * taps + t) * B + ch % B] = v[ch * taps + t];
  return Tensor::from_vector(r, {cb, s[2], s[3], B}, w.dtype());
}

// Plain-input w (O, C, KH, KW) -> (Ob, C, KH, KW, 16), zero-padded.
Tensor pack_plain_input(const Tensor& w) {
  const Shape& s = w.shape();
  const int64_t o = s[0], ckk = s[1] * s[2] * s[3], ob = (o + B - 1) / B;
  const std::vector<double> v = w.to_vector<double>();
  std::vector<double> r(static_cast<size_t>(ob * ckk * B), 0.0);
  for (int64_t oc = 0; oc < o; ++oc)
    for (int64_t t = 0; t < ckk; ++t) r[((oc / B) * ckk + t) * B + oc % B] = v[oc * ckk + t];
  return Tensor::from_vector(r, {ob, s[1], s[2], s[3], B}, w.dtype());
}

struct Geo {
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
  std::string str() const {
    return "k" + std::to_string(kh) + "x" + std::to_string(kw) + " s" + std::to_string(sh) + "," +
           std::to_string(sw) + " p" + std::to_string(ph) + "," + std::to_string(pw) + " d" +
           std::to_string(dh) + "," + std::to_string(dw);
  }
  Conv2dOptions opts(int64_t groups) const {
    return {.stride = {sh, sw}, .padding = {ph, pw}, .dilation = {dh, dw}, .groups = groups};
  }
};

Attrs conv_attrs(const Geo& g, int64_t groups, int64_t out, const char* format, const char* act,
                 bool bias, bool res) {
  using Ints = std::vector<int64_t>;
  Attrs a = Attrs()
                .set("stride", Ints{g.sh, g.sw})
                .set("padding", Ints{g.ph, g.pw})
                .set("dilation", Ints{g.dh, g.dw})
                .set("groups", groups)
                .set("out_channels", out)
                .set("activation", std::string(act))
                .set("has_bias", bias)
                .set("has_residual", res)
                .set("format", std::string(format));
  return a;
}

// x, wp [, bias] [, residual] (reserved up front: GCC 12 warns about an initializer list that
// grows).
std::vector<Tensor> conv_inputs(const Tensor& x, const Tensor& wp, const Tensor* bias,
                                const Tensor* res) {
  std::vector<Tensor> in;
  in.reserve(4);
  in.push_back(x);
  in.push_back(wp);
  if (bias) in.push_back(*bias);
  if (res) in.push_back(*res);
  return in;
}

void expect_all_finite(const Tensor& t, const std::string& what) {
  const std::vector<double> v = t.to_vector<double>();
  for (size_t i = 0; i < v.size(); ++i)
    ASSERT_TRUE(std::isfinite(v[i]))
        << what << ": padding lane or value at " << i << " is " << v[i];
}

double tol(DType dt) {
  return dt == float64 ? 1e-10 : 2e-5;
}

struct DwCase {
  int64_t n, c, h, w;
  Geo g;
};

// Every activation x bias x residual of one depthwise case, on the current ISA.
void check_depthwise(const DwCase& k, DType dt, const std::string& where) {
  const Geo& g = k.g;
  const Tensor x = randn({k.n, k.c, k.h, k.w}, 11 + k.c, dt);
  const Tensor w = randn({k.c, 1, g.kh, g.kw}, 12 + k.c, dt);
  const Tensor b = randn({k.c}, 13, dt);
  const Tensor y0 = conv2d(x, w, Tensor(), g.opts(k.c));
  const Tensor r = randn(y0.shape(), 14, dt);
  const Tensor xb = to_blocked(x, 7.5), wp = pack_depthwise(w), rb = to_blocked(r, -3.25);
  for (const char* act : kActs) {
    for (int mask = 0; mask < 4; ++mask) {
      const bool has_b = mask & 1, has_r = mask & 2;
      const std::string what = where + " " + k.g.str() + " C=" + std::to_string(k.c) + " " + act +
                               (has_b ? " bias" : "") + (has_r ? " residual" : "");
      SCOPED_TRACE(what);
      const Tensor ref =
          conv2d_fused(x, w, has_b ? b : Tensor(), has_r ? r : Tensor(), g.opts(k.c), act);
      const std::vector<Tensor> in =
          conv_inputs(xb, wp, has_b ? &b : nullptr, has_r ? &rb : nullptr);
      const Tensor yb = call_op1(op_def(OpId::depthwise_conv2d_nchwc), in,
                                 conv_attrs(g, k.c, k.c, "depthwise", act, has_b, has_r));
      ASSERT_NO_FATAL_FAILURE(expect_all_finite(yb, what));
      ASSERT_NO_FATAL_FAILURE(expect_close(from_blocked(yb, k.c), ref, tol(dt), tol(dt)));
    }
  }
}

struct StemCase {
  int64_t n, c, h, w, o;
  Geo g;
};

void check_stem(const StemCase& k, DType dt, const std::string& where) {
  const Geo& g = k.g;
  const Tensor x = randn({k.n, k.c, k.h, k.w}, 21 + k.o, dt);
  const Tensor w = randn({k.o, k.c, g.kh, g.kw}, 22 + k.o, dt);
  const Tensor b = randn({k.o}, 23, dt);
  const Tensor y0 = conv2d(x, w, Tensor(), g.opts(1));
  const Tensor r = randn(y0.shape(), 24, dt);
  const Tensor wp = pack_plain_input(w), rb = to_blocked(r, 2.5);
  for (const char* act : kActs) {
    for (int mask = 0; mask < 4; ++mask) {
      const bool has_b = mask & 1, has_r = mask & 2;
      const std::string what = where + " " + k.g.str() + " C=" + std::to_string(k.c) +
                               " O=" + std::to_string(k.o) + " " + act + (has_b ? " bias" : "") +
                               (has_r ? " residual" : "");
      SCOPED_TRACE(what);
      const Tensor ref =
          conv2d_fused(x, w, has_b ? b : Tensor(), has_r ? r : Tensor(), g.opts(1), act);
      const std::vector<Tensor> in =
          conv_inputs(x, wp, has_b ? &b : nullptr, has_r ? &rb : nullptr);
      const Tensor yb = call_op1(op_def(OpId::conv2d_nchwc), in,
                                 conv_attrs(g, 1, k.o, "plain_input", act, has_b, has_r));
      ASSERT_NO_FATAL_FAILURE(expect_all_finite(yb, what));
      ASSERT_NO_FATAL_FAILURE(expect_close(from_blocked(yb, k.o), ref, tol(dt), tol(dt)));
    }
  }
}

std::string where(simd::Isa isa, DType dt) {
  return std::string(simd::isa_name(isa)) + " " + dtype_name(dt);
}

}  // namespace

// 3x3 / 1 and / 2 (MobileNetV2), 5x5 / 1 and / 2 (EfficientNet-B0), 7x7 wider than the input
// (no interior pixel), dilation 2, stride 3, unequal strides and padding per axis, rows long
// enough for several register runs (33 to 70 wide), channels 20, 24, 40, 16, a batch of 2. Small
// maps and 5x5 kernels take the AVX-512 path's zero-padded plane copy, wide rows its clipped
// border pixels; 2 x 4 blocks of 14x14 split over the threads in the middle of planes.
TEST(NchwcDepthwise, MatchesConv2dFused) {
  const std::vector<DwCase> cases = {
      {2, 24, 9, 11, {3, 3, 1, 1, 1, 1, 1, 1}},  {1, 40, 8, 7, {5, 5, 2, 2, 2, 2, 1, 1}},
      {1, 20, 13, 17, {3, 3, 2, 2, 1, 1, 1, 1}}, {1, 16, 10, 10, {3, 3, 1, 1, 2, 2, 2, 2}},
      {1, 16, 6, 33, {3, 3, 1, 1, 1, 1, 1, 1}},  {1, 20, 6, 5, {7, 7, 1, 1, 3, 3, 1, 1}},
      {1, 24, 9, 10, {3, 3, 3, 3, 0, 0, 1, 1}},  {1, 20, 7, 12, {5, 5, 1, 2, 0, 1, 1, 1}},
      {2, 40, 11, 30, {5, 5, 1, 1, 2, 2, 1, 1}}, {1, 32, 5, 31, {3, 3, 2, 2, 0, 0, 1, 1}},
      {1, 20, 5, 70, {5, 5, 1, 1, 2, 2, 1, 1}},  {1, 16, 6, 60, {3, 3, 1, 1, 2, 2, 2, 2}},
      {2, 64, 14, 14, {3, 3, 1, 1, 1, 1, 1, 1}}, {1, 24, 7, 7, {5, 5, 1, 1, 2, 2, 1, 1}},
      {1, 24, 9, 9, {3, 3, 2, 2, 1, 1, 1, 1}}};
  for (simd::Isa isa : isas()) {
    IsaGuard guard(isa);
    for (DType dt : {float32, float64}) {
      for (const DwCase& k : cases) check_depthwise(k, dt, where(isa, dt));
      if (HasFatalFailure()) return;
    }
  }
}

// The RGB stems (7x7 / 2 pad 3 -> 64 channels, 3x3 / 2 pad 1 -> 32), output channels that do not
// fill their last block (20, 24, 40) and 3 or 5 blocks, 1 to 4 input channels, 1x1, 5x5 with
// dilation 2, stride 3, unequal strides and padding per axis.
TEST(NchwcStem, MatchesConv2dFused) {
  const std::vector<StemCase> cases = {
      {2, 3, 23, 21, 64, {7, 7, 2, 2, 3, 3, 1, 1}}, {1, 3, 17, 19, 32, {3, 3, 2, 2, 1, 1, 1, 1}},
      {1, 3, 12, 13, 20, {3, 3, 1, 1, 0, 0, 1, 1}}, {1, 1, 9, 10, 40, {5, 5, 1, 1, 2, 2, 2, 2}},
      {1, 4, 8, 30, 48, {3, 3, 1, 1, 1, 1, 1, 1}},  {2, 2, 7, 9, 24, {3, 3, 3, 3, 1, 1, 1, 1}},
      {1, 3, 5, 40, 80, {1, 1, 1, 1, 0, 0, 1, 1}},  {1, 3, 9, 14, 16, {3, 5, 2, 1, 0, 2, 1, 1}}};
  for (simd::Isa isa : isas()) {
    IsaGuard guard(isa);
    for (DType dt : {float32, float64}) {
      for (const StemCase& k : cases) check_stem(k, dt, where(isa, dt));
      if (HasFatalFailure()) return;
    }
  }
}

// The AVX-512 path and the generic one agree closely on a MobileNetV2-sized layer (float32).
TEST(NchwcDepthwise, Avx512MatchesGeneric) {
  if (simd::best_isa() != simd::Isa::avx512) GTEST_SKIP() << "no AVX-512 on this CPU";
  const Geo g{3, 3, 1, 1, 1, 1, 1, 1};
  const Tensor xb = to_blocked(randn({1, 96, 28, 28}, 5, float32), 0.0);
  const Tensor wp = pack_depthwise(randn({96, 1, 3, 3}, 6, float32));
  const Tensor b = randn({96}, 7, float32);
  const Attrs a = conv_attrs(g, 96, 96, "depthwise", "relu6", true, false);
  Tensor y[2];
  for (int i = 0; i < 2; ++i) {
    IsaGuard guard(i == 0 ? simd::Isa::generic : simd::Isa::avx512);
    y[i] = call_op1(op_def(OpId::depthwise_conv2d_nchwc), {xb, wp, b}, a);
  }
  expect_close(y[1], y[0], 1e-5, 1e-5);
}

// The graph's chain: to_nchwc -> nchwc_pack_weight -> the blocked conv -> from_nchwc, against
// conv2d_fused (MobileNetV2-like 3x3 / 2 with relu6; EfficientNet-like 5x5 with silu and a
// residual; the ResNet stem with relu).
TEST(NchwcDepthwiseStem, ThroughReorderOps) {
  const auto op = [](OpId id, std::vector<Tensor> in, const Attrs& a) {
    return call_op1(op_def(id), std::move(in), a);
  };
  const auto fmt = [](const char* f) { return Attrs().set("format", std::string(f)); };
  for (simd::Isa isa : isas()) {
    IsaGuard guard(isa);
    SCOPED_TRACE(simd::isa_name(isa));
    {  // depthwise 3x3 / 2, 40 channels, relu6, bias
      const Geo g{3, 3, 2, 2, 1, 1, 1, 1};
      const Tensor x = randn({2, 40, 15, 14}, 31, float32), w = randn({40, 1, 3, 3}, 32, float32);
      const Tensor b = randn({40}, 33, float32);
      const Tensor yb =
          op(OpId::depthwise_conv2d_nchwc,
             {op(OpId::to_nchwc, {x}, {}), op(OpId::nchwc_pack_weight, {w}, fmt("depthwise")), b},
             conv_attrs(g, 40, 40, "depthwise", "relu6", true, false));
      const Tensor y = op(OpId::from_nchwc, {yb}, Attrs().set("channels", int64_t{40}));
      expect_close(y, conv2d_fused(x, w, b, Tensor(), g.opts(40), "relu6"), 2e-5, 2e-5);
    }
    {  // depthwise 5x5 / 1, 24 channels, silu, residual
      const Geo g{5, 5, 1, 1, 2, 2, 1, 1};
      const Tensor x = randn({1, 24, 12, 13}, 34, float32), w = randn({24, 1, 5, 5}, 35, float32);
      const Tensor r = randn({1, 24, 12, 13}, 36, float32);
      const Tensor yb =
          op(OpId::depthwise_conv2d_nchwc,
             {op(OpId::to_nchwc, {x}, {}), op(OpId::nchwc_pack_weight, {w}, fmt("depthwise")),
              op(OpId::to_nchwc, {r}, {})},
             conv_attrs(g, 24, 24, "depthwise", "silu", false, true));
      const Tensor y = op(OpId::from_nchwc, {yb}, Attrs().set("channels", int64_t{24}));
      expect_close(y, conv2d_fused(x, w, Tensor(), r, g.opts(24), "silu"), 2e-5, 2e-5);
    }
    {  // stem 7x7 / 2 pad 3, 3 -> 64, relu, bias
      const Geo g{7, 7, 2, 2, 3, 3, 1, 1};
      const Tensor x = randn({1, 3, 30, 27}, 37, float32), w = randn({64, 3, 7, 7}, 38, float32);
      const Tensor b = randn({64}, 39, float32);
      const Tensor yb =
          op(OpId::conv2d_nchwc, {x, op(OpId::nchwc_pack_weight, {w}, fmt("plain_input")), b},
             conv_attrs(g, 1, 64, "plain_input", "relu", true, false));
      const Tensor y = op(OpId::from_nchwc, {yb}, Attrs().set("channels", int64_t{64}));
      expect_close(y, conv2d_fused(x, w, b, Tensor(), g.opts(1), "relu"), 2e-5, 2e-5);
    }
  }
}
