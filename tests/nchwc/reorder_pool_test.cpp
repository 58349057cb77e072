// The blocked layout's reorders, weight packing and pools (kernels/nchwc_kernels.h):
// to_nchwc / from_nchwc round trips bit for bit with the padding lanes zero, every element at
// the spec's index; packed weights element by element against the spec's index formulas;
// to_nchwc -> pool -> from_nchwc against the plain max_pool2d / avg_pool2d /
// adaptive_avg_pool2d(1x1). Every check runs on each kernel path this CPU has (generic, and
// AVX-512 for float32) and in float32 and float64.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "nchwc_test_util.h"
#include "ops/op_def.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

using namespace duet::nchwc_test;

Tensor op1(OpId id, std::vector<Tensor> in, const Attrs& attrs = {}) {
  return call_op1(op_def(id), std::move(in), attrs);
}

std::string where(simd::Isa isa, DType dt) {
  return std::string(simd::isa_name(isa)) + " " + dtype_name(dt);
}

// Bit for bit (NaN equal to NaN of the same bits), as float64 views of float32 are exact.
void expect_bits(const Tensor& a, const Tensor& e, const std::string& what) {
  ASSERT_EQ(shape_str(a.shape()), shape_str(e.shape())) << what;
  ASSERT_EQ(a.dtype(), e.dtype()) << what;
  const std::vector<double> x = a.to_vector<double>(), y = e.to_vector<double>();
  for (size_t i = 0; i < x.size(); ++i) {
    const bool same = std::memcmp(&x[i], &y[i], sizeof(double)) == 0;
    ASSERT_TRUE(same) << what << " at flat index " << i << ": " << x[i] << " vs " << y[i];
  }
}

Attrs channels(int64_t c) {
  return Attrs().set("channels", c);
}

}  // namespace

// to_nchwc puts channel c of (n, h, w) at [n][c / 16][h][w][c % 16] with zero padding lanes,
// and from_nchwc undoes it bit for bit. Odd channel counts, pixel counts that are not a
// multiple of 16 and more than one parallel run (37 x 29 = 1073 pixels), an empty batch.
TEST(NchwcReorder, RoundTripExactWithZeroPadding) {
  const std::vector<Shape> shapes = {{2, 1, 3, 4},  {1, 5, 7, 3},    {3, 16, 4, 4}, {1, 17, 5, 5},
                                     {2, 33, 2, 9}, {1, 20, 37, 29}, {0, 5, 2, 2},  {1, 3, 1, 1}};
  for (simd::Isa isa : isas()) {
    IsaGuard guard(isa);
    for (DType dt : {float32, float64}) {
      for (const Shape& s : shapes) {
        const std::string what = where(isa, dt) + " x " + shape_str(s);
        const Tensor x = randn(s, 7 + s[1], dt);
        const Tensor xb = op1(OpId::to_nchwc, {x});
        const int64_t N = s[0], C = s[1], H = s[2], W = s[3], Cb = (C + B - 1) / B;
        ASSERT_EQ(shape_str(xb.shape()), shape_str(Shape{N, Cb, H, W, B})) << what;
        const std::vector<double> xv = x.to_vector<double>(), bv = xb.to_vector<double>();
        for (int64_t n = 0; n < N; ++n)
          for (int64_t c = 0; c < Cb * B; ++c)
            for (int64_t h = 0; h < H; ++h)
              for (int64_t w = 0; w < W; ++w) {
                const double got = bv[(((n * Cb + c / B) * H + h) * W + w) * B + c % B];
                const double want = c < C ? xv[((n * C + c) * H + h) * W + w] : 0.0;
                ASSERT_EQ(got, want)
                    << what << " at n=" << n << " c=" << c << " h=" << h << " w=" << w;
              }
        const Tensor back = op1(OpId::from_nchwc, {xb}, channels(C));
        expect_bits(back, x, what);
      }
    }
  }
}

// from_nchwc reads only the real channels: whatever the padding lanes hold is dropped.
TEST(NchwcReorder, FromIgnoresPaddingLanes) {
  for (simd::Isa isa : isas()) {
    IsaGuard guard(isa);
    for (DType dt : {float32, float64}) {
      const Tensor xb = randn({2, 2, 5, 7, B}, 3, dt);  // 20 channels: lanes 4..15 of block 1
      const Tensor y = op1(OpId::from_nchwc, {xb}, channels(20));
      ASSERT_EQ(shape_str(y.shape()), "(2, 20, 5, 7)");
      const std::vector<double> bv = xb.to_vector<double>(), yv = y.to_vector<double>();
      for (int64_t n = 0; n < 2; ++n)
        for (int64_t c = 0; c < 20; ++c)
          for (int64_t p = 0; p < 35; ++p)
            ASSERT_EQ(yv[(n * 20 + c) * 35 + p], bv[((n * 2 + c / B) * 35 + p) * B + c % B])
                << where(isa, dt) << " n=" << n << " c=" << c << " p=" << p;
    }
  }
}

TEST(NchwcReorder, FromRejectsChannelsThatDoNotFitTheBlocks) {
  const Tensor xb = Tensor::zeros({1, 2, 3, 3, B});
  EXPECT_DUET_ERROR(op1(OpId::from_nchwc, {xb}, channels(16)), "from_nchwc", "17 to 32");
  EXPECT_DUET_ERROR(op1(OpId::to_nchwc, {Tensor::zeros({2, 3, 4})}), "to_nchwc");
}

// Each packed format element by element against its index formula (nchwc_kernels.h), with the
// padded output / input channels zero.
TEST(NchwcPackWeight, DenseLayout) {
  for (DType dt : {float32, float64}) {
    for (const Shape& s : std::vector<Shape>{{20, 5, 3, 3}, {32, 16, 1, 1}, {7, 33, 2, 3}}) {
      const Tensor w = randn(s, 11, dt);
      const Tensor p =
          op1(OpId::nchwc_pack_weight, {w}, Attrs().set("format", std::string("dense")));
      const int64_t O = s[0], C = s[1], KH = s[2], KW = s[3], Ob = (O + 15) / B, Cb = (C + 15) / B;
      ASSERT_EQ(shape_str(p.shape()), shape_str(Shape{Ob, Cb, KH, KW, B, B}));
      const std::vector<double> wv = w.to_vector<double>(), pv = p.to_vector<double>();
      for (int64_t o = 0; o < Ob * B; ++o)
        for (int64_t c = 0; c < Cb * B; ++c)
          for (int64_t kh = 0; kh < KH; ++kh)
            for (int64_t kw = 0; kw < KW; ++kw) {
              const double got =
                  pv[((((o / B) * Cb + c / B) * KH + kh) * KW + kw) * B * B + (c % B) * B + o % B];
              const double want = o < O && c < C ? wv[((o * C + c) * KH + kh) * KW + kw] : 0.0;
              ASSERT_EQ(got, want)
                  << shape_str(s) << " o=" << o << " c=" << c << " kh=" << kh << " kw=" << kw;
            }
    }
  }
}

TEST(NchwcPackWeight, PlainInputLayout) {
  for (DType dt : {float32, float64}) {
    for (const Shape& s : std::vector<Shape>{{20, 3, 7, 7}, {64, 3, 7, 7}, {8, 1, 3, 3}}) {
      const Tensor w = randn(s, 12, dt);
      const Tensor p =
          op1(OpId::nchwc_pack_weight, {w}, Attrs().set("format", std::string("plain_input")));
      const int64_t O = s[0], C = s[1], KH = s[2], KW = s[3], Ob = (O + 15) / B;
      ASSERT_EQ(shape_str(p.shape()), shape_str(Shape{Ob, C, KH, KW, B}));
      const std::vector<double> wv = w.to_vector<double>(), pv = p.to_vector<double>();
      for (int64_t o = 0; o < Ob * B; ++o)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t kh = 0; kh < KH; ++kh)
            for (int64_t kw = 0; kw < KW; ++kw) {
              const double got = pv[((((o / B) * C + c) * KH + kh) * KW + kw) * B + o % B];
              const double want = o < O ? wv[((o * C + c) * KH + kh) * KW + kw] : 0.0;
              ASSERT_EQ(got, want) << shape_str(s) << " o=" << o << " c=" << c;
            }
    }
  }
}

TEST(NchwcPackWeight, DepthwiseLayout) {
  for (DType dt : {float32, float64}) {
    for (const Shape& s : std::vector<Shape>{{20, 1, 3, 3}, {32, 1, 5, 5}, {3, 1, 1, 2}}) {
      const Tensor w = randn(s, 13, dt);
      const Tensor p =
          op1(OpId::nchwc_pack_weight, {w}, Attrs().set("format", std::string("depthwise")));
      const int64_t C = s[0], KH = s[2], KW = s[3], Cb = (C + 15) / B;
      ASSERT_EQ(shape_str(p.shape()), shape_str(Shape{Cb, KH, KW, B}));
      const std::vector<double> wv = w.to_vector<double>(), pv = p.to_vector<double>();
      for (int64_t c = 0; c < Cb * B; ++c)
        for (int64_t kh = 0; kh < KH; ++kh)
          for (int64_t kw = 0; kw < KW; ++kw) {
            const double got = pv[(((c / B) * KH + kh) * KW + kw) * B + c % B];
            const double want = c < C ? wv[(c * KH + kh) * KW + kw] : 0.0;
            ASSERT_EQ(got, want) << shape_str(s) << " c=" << c << " kh=" << kh << " kw=" << kw;
          }
    }
  }
}

TEST(NchwcPackWeight, RejectsUnknownFormat) {
  EXPECT_DUET_ERROR(op1(OpId::nchwc_pack_weight, {Tensor::zeros({4, 4, 3, 3})},
                        Attrs().set("format", std::string("nhwc"))),
                    "nchwc_pack_weight", "nhwc");
}

namespace {

struct PoolCase {
  Shape x;  // plain (N, C, H, W)
  Pool2dOptions o;
};

Attrs pool_attrs(const Pool2dOptions& o, bool is_max) {
  using Ints = std::vector<int64_t>;
  const Int2 s{o.stride[0] ? o.stride[0] : o.kernel[0], o.stride[1] ? o.stride[1] : o.kernel[1]};
  Attrs a = Attrs()
                .set("kernel", Ints{o.kernel[0], o.kernel[1]})
                .set("stride", Ints{s[0], s[1]})
                .set("padding", Ints{o.padding[0], o.padding[1]})
                .set("ceil_mode", o.ceil_mode);
  if (is_max) return a.set("dilation", Ints{o.dilation[0], o.dilation[1]});
  return a.set("count_include_pad", o.count_include_pad);
}

// to_nchwc -> op -> from_nchwc.
Tensor blocked_pool(OpId id, const Tensor& x, const Attrs& attrs) {
  const Tensor yb = op1(id, {op1(OpId::to_nchwc, {x})}, attrs);
  return op1(OpId::from_nchwc, {yb}, channels(x.shape()[1]));
}

}  // namespace

// max_pool2d_nchwc equals max_pool2d bit for bit: the ResNet stem window (3x3 / 2, padding 1),
// 2x2 / 2 with ceil_mode on odd sizes, dilation, rectangular windows and strides, padding that
// leaves border windows mostly outside, a channel count that does not fill its last block.
TEST(NchwcPool, MaxMatchesPlainExactly) {
  const std::vector<PoolCase> cases = {
      {{1, 20, 15, 15}, {.kernel = 3, .stride = 2, .padding = 1}},
      {{2, 16, 7, 9}, {.kernel = 2, .stride = 2, .ceil_mode = true}},
      {{1, 5, 10, 11}, {.kernel = 3, .stride = 1, .padding = 1, .dilation = 2}},
      {{1, 33, 9, 8}, {.kernel = {2, 3}, .stride = {1, 2}, .padding = {1, 1}, .ceil_mode = true}},
      {{2, 3, 6, 6},
       {.kernel = 3, .stride = 3, .padding = 1, .dilation = {1, 2}, .ceil_mode = true}},
      {{1, 17, 4, 6}, {.kernel = 2, .stride = 1}},
      {{1, 16, 1, 1}, {.kernel = 1, .stride = 1}},
  };
  for (simd::Isa isa : isas()) {
    IsaGuard guard(isa);
    for (DType dt : {float32, float64})
      for (size_t i = 0; i < cases.size(); ++i) {
        const Tensor x = randn(cases[i].x, 100 + i, dt);
        const Tensor want = max_pool2d(x, cases[i].o);
        const Tensor got = blocked_pool(OpId::max_pool2d_nchwc, x, pool_attrs(cases[i].o, true));
        expect_bits(got, want, where(isa, dt) + " case " + std::to_string(i));
      }
  }
}

// NaN propagates as in max_pool2d (a NaN anywhere in the window wins over numbers); infinities
// are ordinary values.
TEST(NchwcPool, MaxPropagatesNaN) {
  for (simd::Isa isa : isas()) {
    IsaGuard guard(isa);
    for (DType dt : {float32, float64}) {
      std::vector<double> v = randn({1, 16, 6, 6}, 5, float64).to_vector<double>();
      v[0] = v[3 * 36 + 14] = v[9 * 36 + 35] = std::numeric_limits<double>::quiet_NaN();
      // Infinities next to numbers and to each other (inf + -inf is NaN in a sum of the taps).
      v[5 * 36 + 7] = v[5 * 36 + 8] = std::numeric_limits<double>::infinity();
      v[5 * 36 + 13] = v[6 * 36 + 0] = -std::numeric_limits<double>::infinity();
      v[7 * 36 + 20] = std::numeric_limits<double>::infinity();
      v[7 * 36 + 21] = -std::numeric_limits<double>::infinity();
      const Tensor x = Tensor::from_vector(v, {1, 16, 6, 6}, dt);
      const Pool2dOptions o{.kernel = 3, .stride = 2, .padding = 1};
      const Tensor got = blocked_pool(OpId::max_pool2d_nchwc, x, pool_attrs(o, true));
      const Tensor want = max_pool2d(x, o);
      const std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
      int nans = 0, infs = 0;
      for (size_t i = 0; i < g.size(); ++i) {
        ASSERT_EQ(std::isnan(g[i]), std::isnan(w[i])) << where(isa, dt) << " at " << i;
        nans += std::isnan(w[i]) ? 1 : 0;
        infs += std::isinf(w[i]) ? 1 : 0;
        if (!std::isnan(w[i])) {
          ASSERT_EQ(g[i], w[i]) << where(isa, dt) << " at " << i;
        }
      }
      EXPECT_GE(nans, 3) << where(isa, dt);
      EXPECT_GE(infs, 3) << where(isa, dt);
    }
  }
}

// avg_pool2d_nchwc equals avg_pool2d bit for bit (both sum in double in window order): padding
// counted or not, ceil_mode windows clipped at the padded border, rectangular windows.
TEST(NchwcPool, AvgMatchesPlainExactly) {
  const std::vector<PoolCase> cases = {
      {{1, 20, 7, 7}, {.kernel = 3, .stride = 2, .padding = 1}},
      {{2, 16, 5, 5},
       {.kernel = 3, .stride = 2, .padding = 1, .ceil_mode = true, .count_include_pad = false}},
      {{1, 5, 6, 7}, {.kernel = 3, .stride = 2, .padding = 1, .ceil_mode = true}},
      {{1, 33, 4, 6}, {.kernel = 2, .stride = 2}},
      {{1, 17, 9, 8},
       {.kernel = {3, 2}, .stride = {1, 2}, .padding = {1, 1}, .count_include_pad = false}},
      {{2, 7, 7, 7}, {.kernel = 7, .stride = 1}},
  };
  for (simd::Isa isa : isas()) {
    IsaGuard guard(isa);
    for (DType dt : {float32, float64})
      for (size_t i = 0; i < cases.size(); ++i) {
        const Tensor x = randn(cases[i].x, 200 + i, dt);
        const Tensor want = avg_pool2d(x, cases[i].o);
        const Tensor got = blocked_pool(OpId::avg_pool2d_nchwc, x, pool_attrs(cases[i].o, false));
        expect_bits(got, want, where(isa, dt) + " case " + std::to_string(i));
      }
  }
}

// global_avg_pool_nchwc against adaptive_avg_pool2d(1x1), within 1e-6 (the plain kernel's sum
// order differs); the ResNet / EfficientNet heads (7x7), odd sizes, planes of more than 1024
// pixels (summed in segments).
TEST(NchwcPool, GlobalAvgMatchesAdaptiveAvgPool) {
  const std::vector<Shape> shapes = {{2, 20, 7, 7},   {1, 16, 1, 1},   {1, 33, 3, 5},
                                     {3, 64, 13, 11}, {1, 20, 40, 33}, {2, 5, 64, 49}};
  for (simd::Isa isa : isas()) {
    IsaGuard guard(isa);
    for (DType dt : {float32, float64})
      for (const Shape& s : shapes) {
        const Tensor x = randn(s, 300 + s[1], dt);
        const Tensor yb = op1(OpId::global_avg_pool_nchwc, {op1(OpId::to_nchwc, {x})});
        ASSERT_EQ(shape_str(yb.shape()), shape_str(Shape{s[0], (s[1] + 15) / B, 1, 1, B}));
        const Tensor got = op1(OpId::from_nchwc, {yb}, channels(s[1]));
        expect_close(got, adaptive_avg_pool2d(x, {1, 1}), 1e-6, 1e-7);
      }
  }
}

// The padding lanes of a pool's output stay finite when its input's do (zero in, zero out).
TEST(NchwcPool, PaddingLanesStayZero) {
  for (simd::Isa isa : isas()) {
    IsaGuard guard(isa);
    const Tensor xb = op1(OpId::to_nchwc, {randn({1, 5, 8, 8}, 9, float32)});
    const Pool2dOptions o{.kernel = 3, .stride = 2, .padding = 1};
    for (const Tensor& y : {op1(OpId::max_pool2d_nchwc, {xb}, pool_attrs(o, true)),
                            op1(OpId::avg_pool2d_nchwc, {xb}, pool_attrs(o, false)),
                            op1(OpId::global_avg_pool_nchwc, {xb})}) {
      const std::vector<float> v = y.to_vector<float>();
      for (size_t i = 0; i < v.size(); ++i)
        if (i % B >= 5) {
          ASSERT_EQ(v[i], 0.0f) << simd::isa_name(isa) << " at " << i;
        }
    }
  }
}

// Results do not depend on the thread count (the work splits depend on shapes only): the pools
// and reorders on 1 thread and on 3 threads, bit for bit.
TEST(NchwcPool, SameResultsOnAnyThreadCount) {
  const int threads = num_threads();
  const Tensor x = randn({2, 37, 45, 38}, 21, float32);
  const Pool2dOptions o{.kernel = 3, .stride = 2, .padding = 1};
  auto run_all = [&] {
    const Tensor xb = op1(OpId::to_nchwc, {x});
    return std::vector<Tensor>{xb, op1(OpId::max_pool2d_nchwc, {xb}, pool_attrs(o, true)),
                               op1(OpId::avg_pool2d_nchwc, {xb}, pool_attrs(o, false)),
                               op1(OpId::global_avg_pool_nchwc, {xb}),
                               op1(OpId::from_nchwc, {xb}, channels(37))};
  };
  set_num_threads(1);
  const std::vector<Tensor> one = run_all();
  set_num_threads(3);
  const std::vector<Tensor> three = run_all();
  set_num_threads(threads);
  for (size_t i = 0; i < one.size(); ++i)
    expect_bits(three[i], one[i], "output " + std::to_string(i));
}
