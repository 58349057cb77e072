// The float32 AVX-512 kernel of conv2d_nchwc "dense" (nchwc_conv_avx512.h): a direct
// convolution in the manner of ONNX Runtime's MLAS NCHWc kernels. A tile of P output pixels x
// OB output-channel blocks (P * OB <= 24 zmm accumulators) runs the loop over (input block, kh,
// kw, input channel ic of 16): it loads the OB weight vectors wp[ob][cb][kh][kw][ic][0:16] and
// FMAs each with the broadcast x[n][cb][ih][iw(p)][ic] of each pixel. Taps in the padding are
// clipped: rows per call, columns per pixel (edge pixels run as 1-pixel tiles, the interior as
// full tiles), so no input outside x is read. The epilogue (bias, residual, relu / relu6) runs
// in registers before the store.
//
// Compiled with AVX-512 flags (CMakeLists.txt); includes only <immintrin.h>, <cstdint> and the
// declaration header, per nchwc_common.h's rules.
#include <immintrin.h>

#include <cstdint>

#include "cpu/nchwc_conv_avx512.h"

namespace duet::cpu_kernels::nchwc {
namespace {

constexpr int64_t B = 16;

struct Tile {
  const float* x;  // input under pixel 0's first valid tap (cb 0, kh0, kw0)
  const float* w;  // wp[ob0][0][kh0][kw0]
  float* y;        // y[n][ob0][oh][ow]
  const float* res;
  const float* bias;  // bias + ob0 * 16, or null
  int64_t ncb, nkh, nkw;
  int64_t x_cb, x_kh, x_kw, x_px;  // input strides (floats): block, tap row, tap column, pixel
  int64_t w_ob, w_cb, w_kh;        // weight strides (floats); tap column: 256
  int64_t y_ob;                    // output (and residual) stride between channel blocks
  int act;
};

// S: the conv's column stride when it is 1 or 2 (then every input of the tile is a constant
// offset from one pointer), 0: any stride (t.x_px).
template <int P, int OB, int S>
void tile(const Tile& t) {
  const int64_t x_px = S > 0 ? S * B : t.x_px;
  const int64_t w_ob = t.w_ob;
  __m512 acc[P][OB];
#pragma GCC unroll 16
  for (int p = 0; p < P; ++p)
#pragma GCC unroll 4
    for (int o = 0; o < OB; ++o) acc[p][o] = _mm512_setzero_ps();
  for (int64_t cb = 0; cb < t.ncb; ++cb) {
    for (int64_t kh = 0; kh < t.nkh; ++kh) {
      const float* xr = t.x + cb * t.x_cb + kh * t.x_kh;
      const float* wr = t.w + cb * t.w_cb + kh * t.w_kh;
      for (int64_t kw = 0; kw < t.nkw; ++kw) {
        const float* xp = xr + kw * t.x_kw;
        const float* wp = wr + kw * B * B;
        // One input channel per step; the OB weight rows are wp + o w_ob (+16 per step), the
        // pixels xp + p x_px (+1 per step).
#pragma GCC unroll 2
        for (int ic = 0; ic < B; ++ic, ++xp, wp += B) {
          __m512 wv[OB];
#pragma GCC unroll 4
          for (int o = 0; o < OB; ++o) wv[o] = _mm512_loadu_ps(wp + o * w_ob);
#pragma GCC unroll 16
          for (int p = 0; p < P; ++p) {
            const __m512 xv = _mm512_set1_ps(xp[p * x_px]);
#pragma GCC unroll 4
            for (int o = 0; o < OB; ++o) acc[p][o] = _mm512_fmadd_ps(xv, wv[o], acc[p][o]);
          }
        }
      }
    }
  }
  const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.0f);
#pragma GCC unroll 4
  for (int o = 0; o < OB; ++o) {
    const __m512 bv = t.bias ? _mm512_loadu_ps(t.bias + o * B) : zero;
#pragma GCC unroll 16
    for (int p = 0; p < P; ++p) {
      __m512 v = _mm512_add_ps(acc[p][o], bv);
      if (t.res) v = _mm512_add_ps(v, _mm512_loadu_ps(t.res + o * t.y_ob + p * B));
      if (t.act >= 1) v = _mm512_mask_max_ps(v, 0xFFFF, v, zero);
      if (t.act == 2) v = _mm512_mask_min_ps(v, 0xFFFF, v, six);
      _mm512_storeu_ps(t.y + o * t.y_ob + p * B, v);
    }
  }
}

using TileFn = void (*)(const Tile&);

// Pixels per full tile for OB output blocks: P * OB <= 24 accumulators.
constexpr int kMaxP = 12;
constexpr int max_pixels(int64_t ob) {
  return ob >= 4 ? 6 : ob == 3 ? 8 : 12;
}

#define DUET_TILES(OB, S)                                                              \
  &tile<1, OB, S>, &tile<2, OB, S>, &tile<3, OB, S>, &tile<4, OB, S>, &tile<5, OB, S>, \
      &tile<6, OB, S>
#define DUET_TILES_12(OB, S)                                                                \
  {                                                                                         \
    DUET_TILES(OB, S), &tile<7, OB, S>, &tile<8, OB, S>, &tile<9, OB, S>, &tile<10, OB, S>, \
        &tile<11, OB, S>, &tile<12, OB, S>                                                  \
  }
#define DUET_TILE_TABLE(S)                                                                      \
  {                                                                                             \
    DUET_TILES_12(1, S), DUET_TILES_12(2, S),                                                   \
        {DUET_TILES(3, S), &tile<7, 3, S>, &tile<8, 3, S>, nullptr, nullptr, nullptr, nullptr}, \
        {DUET_TILES(4, S), nullptr, nullptr, nullptr, nullptr, nullptr, nullptr},               \
  }
// kTiles[S][OB - 1][P - 1]: the tile of P pixels x OB blocks (P <= max_pixels(OB)) for column
// stride S (0: any).
constexpr TileFn kTiles[3][4][kMaxP] = {DUET_TILE_TABLE(0), DUET_TILE_TABLE(1), DUET_TILE_TABLE(2)};
#undef DUET_TILE_TABLE
#undef DUET_TILES_12
#undef DUET_TILES

void tap_range(int64_t i0, int64_t d, int64_t k, int64_t size, int64_t& lo, int64_t& hi) {
  lo = i0 >= 0 ? 0 : (-i0 + d - 1) / d;
  hi = size - 1 - i0 < 0 ? 0 : (size - 1 - i0) / d + 1;
  if (hi > k) hi = k;
  if (hi < lo) hi = lo;
}

}  // namespace

void conv_dense_avx512(const DenseConv<float>& g, int64_t n, int64_t ob0, int64_t nob, int64_t oh,
                       int64_t ow0, int64_t ow1) {
  const int64_t ih0 = oh * g.sh - g.ph;
  int64_t kh0, kh1;
  tap_range(ih0, g.dh, g.kh, g.h, kh0, kh1);
  Tile t;
  t.bias = g.bias ? g.bias + ob0 * B : nullptr;
  t.ncb = g.cb;
  t.nkh = kh1 - kh0;
  t.x_cb = g.h * g.w_ * B;
  t.x_kh = g.dh * g.w_ * B;
  t.x_kw = g.dw * B;
  t.x_px = g.sw * B;
  t.w_kh = g.kw * B * B;
  t.w_cb = g.kh * t.w_kh;
  t.w_ob = g.cb * t.w_cb;
  t.y_ob = g.oh * g.ow * B;
  t.act = g.act;
  const int64_t ih = ih0 + kh0 * g.dh;  // first valid input row (unused when nkh == 0)
  const float* xn = g.x + n * g.cb * t.x_cb + (t.nkh > 0 ? ih * g.w_ * B : 0);
  const float* wob = g.w + ob0 * t.w_ob + kh0 * t.w_kh;
  const int64_t yrow = (n * g.ob + ob0) * t.y_ob + oh * g.ow * B;

  // Pixels whose taps all lie inside the row: [in0, in1).
  int64_t in0 = g.sw > 0 ? (g.pw + g.sw - 1) / g.sw : 0;
  const int64_t last = g.w_ - 1 - (g.kw - 1) * g.dw + g.pw;  // ow * sw <= last
  int64_t in1 = last < 0 ? 0 : last / g.sw + 1;
  in0 = in0 < ow0 ? ow0 : in0 > ow1 ? ow1 : in0;
  in1 = in1 > ow1 ? ow1 : in1 < in0 ? in0 : in1;

  const int maxp = max_pixels(nob);
  const int stride_case = g.sw == 1 ? 1 : g.sw == 2 ? 2 : 0;
  auto run = [&](int64_t ow, int64_t np, int64_t kw0, int64_t kw1) {
    const int64_t iw = ow * g.sw - g.pw + kw0 * g.dw;
    t.x = xn + (kw1 > kw0 ? iw * B : 0);
    t.w = wob + kw0 * B * B;
    t.nkw = kw1 - kw0;
    t.y = g.y + yrow + ow * B;
    t.res = g.residual ? g.residual + yrow + ow * B : nullptr;
    kTiles[stride_case][nob - 1][np - 1](t);
  };
  auto edge = [&](int64_t ow) {
    int64_t kw0, kw1;
    tap_range(ow * g.sw - g.pw, g.dw, g.kw, g.w_, kw0, kw1);
    run(ow, 1, kw0, kw1);
  };
  for (int64_t ow = ow0; ow < in0; ++ow) edge(ow);
  for (int64_t ow = in0; ow < in1;) {
    const int64_t np = in1 - ow < maxp ? in1 - ow : maxp;
    run(ow, np, 0, g.kw);
    ow += np;
  }
  for (int64_t ow = in1; ow < ow1; ++ow) edge(ow);
}

}  // namespace duet::cpu_kernels::nchwc
