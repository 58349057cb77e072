// The float32 AVX-512 kernel of conv2d_nchwc "dense" (nchwc_conv_avx512.h): a direct
// convolution in the manner of ONNX Runtime's MLAS NCHWc kernels and oneDNN's
// jit_avx512_common_conv. No im2col, no workspace.
//
// Register tile: P output pixels x OB output-channel blocks (P * OB <= 24 zmm accumulators).
// Its loop over (input block cb, kh, kw, input channel ic of 16) loads the OB weight vectors
// wp[ob][cb][kh][kw][ic][0:16] and FMAs each with the broadcast x[n][cb][ih][iw(p)][ic] of each
// pixel p. Padding: taps on rows outside x are skipped for the whole tile; tiles whose pixels
// all have their taps inside the row read the pixels at constant offsets from one pointer
// (stride 1 or 2), the others (the row's edges, other strides) keep one pointer per pixel and
// tap, which points at a zero vector for a tap in the padding, so no input outside x is read.
//
// Cache blocking: the input blocks are taken in chunks whose weights (OB x chunk x KH x KW x
// 16 x 16 floats, <= 32 KB) stay in L1 while every tile of a band of output rows uses them; a
// chunk's partial sums go to y and the next chunk adds to them. The accumulators start from
// bias + residual (so y may be the residual's buffer); the activation (nchwc_act_avx512.h) runs
// in registers after the last chunk, before the store.
//
// Compiled with AVX-512 flags (CMakeLists.txt); includes only nchwc_avx512.h, the
// declaration header and nchwc_act_avx512.h (internal linkage), per nchwc_common.h's rules.
#include "cpu/nchwc_avx512.h"

#include "cpu/nchwc_act_avx512.h"
#include "cpu/nchwc_conv_avx512.h"

namespace duet::cpu_kernels::nchwc {
namespace {

constexpr int64_t B = 16;
alignas(64) const float kZeros[B] = {};
constexpr int64_t kPrefetch = 2;  // input blocks ahead

struct Tile {
  const float* x;     // MODE 1, 2: x[n][cb0][ih(kh 0)][iw of pixel 0, tap 0]; MODE 0: the row
  const float* w;     // wp[ob0][cb0][kh0][0]
  float* y;           // y[n][ob0][oh][ow of pixel 0]
  const float* res;   // like y, or null
  const float* bias;  // bias + ob0 * 16, or null
  int64_t ncb, nkh, nkw;
  int64_t x_cb, x_kh, x_kw;  // input strides (floats): block, tap row, tap column
  int64_t iw0, sw, width;    // MODE 0: pixel 0's input column at tap 0, column stride, width
  int64_t w_ob, w_cb, w_kh;  // weight strides (floats); tap column: 256
  int64_t y_ob;              // output (and residual) stride between channel blocks
  bool load;                 // add to the partial sums in y (a later input chunk)
  bool final;                // the last chunk: epilogue
  int act;
};

// MODE 1 / 2: every tap of every pixel is inside the row, pixels 16 MODE floats apart.
// MODE 0: one pointer per pixel and tap (zeros for a tap in the padding).
template <int P, int OB, int MODE>
void tile(const Tile& t) {
  const int64_t w_ob = t.w_ob;
  __m512 acc[P][OB];
  if (t.load) {
#pragma GCC unroll 4
    for (int o = 0; o < OB; ++o)
#pragma GCC unroll 16
      for (int p = 0; p < P; ++p) acc[p][o] = _mm512_loadu_ps(t.y + o * t.y_ob + p * B);
  } else {
    // The first chunk starts from bias + residual: the residual is read before any partial
    // sum is stored, so y may be the residual's own buffer.
#pragma GCC unroll 4
    for (int o = 0; o < OB; ++o) {
      const __m512 bv = t.bias ? _mm512_loadu_ps(t.bias + o * B) : _mm512_setzero_ps();
#pragma GCC unroll 16
      for (int p = 0; p < P; ++p)
        acc[p][o] = t.res ? _mm512_add_ps(bv, _mm512_loadu_ps(t.res + o * t.y_ob + p * B)) : bv;
    }
  }
  for (int64_t cb = 0; cb < t.ncb; ++cb) {
    if constexpr (MODE > 0) {
      // A 1x1 conv reads each input line once (from L3 or memory): prefetch the lines
      // kPrefetch blocks ahead, this tile's, then the next tile's first blocks (the pixels
      // that follow; integer addresses, as the last tile's may lie past x).
      if (t.nkh == 1 && t.nkw == 1) {
        const int64_t ahead = cb + kPrefetch;
        const uintptr_t base =
            ahead < t.ncb ? reinterpret_cast<uintptr_t>(t.x) + ahead * t.x_cb * sizeof(float)
                          : reinterpret_cast<uintptr_t>(t.x) +
                                ((ahead - t.ncb) * t.x_cb + P * MODE * B) * sizeof(float);
#pragma GCC unroll 16
        for (int p = 0; p < P; ++p)
          _mm_prefetch(reinterpret_cast<const char*>(base + p * MODE * B * sizeof(float)),
                       _MM_HINT_T0);
      }
    }
    for (int64_t kh = 0; kh < t.nkh; ++kh) {
      const float* xr = t.x + cb * t.x_cb + kh * t.x_kh;
      const float* wr = t.w + cb * t.w_cb + kh * t.w_kh;
      for (int64_t kw = 0; kw < t.nkw; ++kw) {
        const float* wp = wr + kw * B * B;
        if constexpr (MODE > 0) {
          const float* xp = xr + kw * t.x_kw;
          // One input channel per step: weight rows wp + o w_ob, pixels xp + p 16 MODE.
#pragma GCC unroll 1
          for (int ic = 0; ic < B; ++ic, ++xp, wp += B) {
            __m512 wv[OB];
#pragma GCC unroll 4
            for (int o = 0; o < OB; ++o) wv[o] = _mm512_loadu_ps(wp + o * w_ob);
#pragma GCC unroll 16
            for (int p = 0; p < P; ++p) {
              const __m512 xv = _mm512_set1_ps(xp[p * MODE * B]);
#pragma GCC unroll 4
              for (int o = 0; o < OB; ++o) acc[p][o] = _mm512_fmadd_ps(xv, wv[o], acc[p][o]);
            }
          }
        } else {
          const float* xq[P];
#pragma GCC unroll 16
          for (int p = 0; p < P; ++p) {
            const int64_t iw = t.iw0 + p * t.sw + kw * t.x_kw / B;
            xq[p] = iw >= 0 && iw < t.width ? xr + iw * B : kZeros;
          }
#pragma GCC unroll 1
          for (int ic = 0; ic < B; ++ic, wp += B) {
            __m512 wv[OB];
#pragma GCC unroll 4
            for (int o = 0; o < OB; ++o) wv[o] = _mm512_loadu_ps(wp + o * w_ob);
#pragma GCC unroll 16
            for (int p = 0; p < P; ++p) {
              const __m512 xv = _mm512_set1_ps(xq[p][ic]);
#pragma GCC unroll 4
              for (int o = 0; o < OB; ++o) acc[p][o] = _mm512_fmadd_ps(xv, wv[o], acc[p][o]);
            }
          }
        }
      }
    }
  }
  if (!t.final) {
#pragma GCC unroll 4
    for (int o = 0; o < OB; ++o)
#pragma GCC unroll 16
      for (int p = 0; p < P; ++p) _mm512_storeu_ps(t.y + o * t.y_ob + p * B, acc[p][o]);
    return;
  }
#pragma GCC unroll 4
  for (int o = 0; o < OB; ++o)
#pragma GCC unroll 16
    for (int p = 0; p < P; ++p) {
      const __m512 v = acc[p][o];
      _mm512_storeu_ps(t.y + o * t.y_ob + p * B,
                       t.act <= kActRelu6 ? act_avx512_minmax(v, t.act) : act_avx512(v, t.act));
    }
}

using TileFn = void (*)(const Tile&);

// Pixels per full tile for OB output blocks: P * OB <= 24 accumulators.
constexpr int kMaxP = 12;
constexpr int64_t max_pixels(int64_t ob) {
  return ob >= 4 ? 6 : ob == 3 ? 8 : 12;
}

#define DUET_TILES(OB, M)                                                              \
  &tile<1, OB, M>, &tile<2, OB, M>, &tile<3, OB, M>, &tile<4, OB, M>, &tile<5, OB, M>, \
      &tile<6, OB, M>
#define DUET_TILES_12(OB, M)                                                                \
  {                                                                                         \
    DUET_TILES(OB, M), &tile<7, OB, M>, &tile<8, OB, M>, &tile<9, OB, M>, &tile<10, OB, M>, \
        &tile<11, OB, M>, &tile<12, OB, M>                                                  \
  }
#define DUET_TILE_TABLE(M)                                                                      \
  {                                                                                             \
    DUET_TILES_12(1, M), DUET_TILES_12(2, M),                                                   \
        {DUET_TILES(3, M), &tile<7, 3, M>, &tile<8, 3, M>, nullptr, nullptr, nullptr, nullptr}, \
        {DUET_TILES(4, M), nullptr, nullptr, nullptr, nullptr, nullptr, nullptr},               \
  }
// kTiles[MODE][OB - 1][P - 1]: the tile of P pixels x OB blocks (P <= max_pixels(OB)).
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

constexpr int64_t kL1WeightBytes = 32 * 1024;

}  // namespace

void conv_dense_avx512(const DenseConv<float>& g, int64_t n, int64_t ob0, int64_t nob, int64_t oh0,
                       int64_t oh1, int64_t ow0, int64_t ow1) {
  Tile t;
  t.bias = g.bias ? g.bias + ob0 * B : nullptr;
  t.x_cb = g.h * g.w_ * B;
  t.x_kh = g.dh * g.w_ * B;
  t.x_kw = g.dw * B;
  t.sw = g.sw;
  t.width = g.w_;
  t.nkw = g.kw;
  t.w_kh = g.kw * B * B;
  t.w_cb = g.kh * t.w_kh;
  t.w_ob = g.cb * t.w_cb;
  t.y_ob = g.oh * g.ow * B;
  t.act = g.act;

  // Input blocks per chunk: the chunk's weights fit kL1WeightBytes.
  const int64_t per_block = nob * g.kh * g.kw * B * B * static_cast<int64_t>(sizeof(float));
  int64_t chunk = kL1WeightBytes / per_block;
  if (chunk < 1) chunk = 1;

  // Pixels whose taps all lie inside the row: [in0, in1).
  int64_t in0 = (g.pw + g.sw - 1) / g.sw;
  const int64_t last = g.w_ - 1 - (g.kw - 1) * g.dw + g.pw;  // ow * sw <= last
  int64_t in1 = last < 0 ? 0 : last / g.sw + 1;
  if (in1 < in0) in1 = in0;
  const int mode_inside = g.sw == 1 ? 1 : g.sw == 2 ? 2 : 0;

  // Tiles of at most maxp pixels, sizes balanced: ntiles tiles over the segment.
  const int64_t maxp = max_pixels(nob), len = ow1 - ow0;
  const int64_t ntiles = (len + maxp - 1) / maxp;
  const float* xn = g.x + n * g.cb * t.x_cb;
  const float* wob = g.w + ob0 * t.w_ob;

  for (int64_t cb0 = 0; cb0 < g.cb; cb0 += chunk) {
    t.ncb = g.cb - cb0 < chunk ? g.cb - cb0 : chunk;
    t.load = cb0 > 0;
    t.final = cb0 + t.ncb >= g.cb;
    for (int64_t oh = oh0; oh < oh1; ++oh) {
      const int64_t ih0 = oh * g.sh - g.ph;
      int64_t kh0, kh1;
      tap_range(ih0, g.dh, g.kh, g.h, kh0, kh1);
      t.nkh = kh1 - kh0;
      if (t.nkh == 0) kh0 = 0;  // no tap: keep the pointers below inside the arrays
      // The first valid input row (any row when none is: the loops do not run).
      const float* xrow = xn + cb0 * t.x_cb + (t.nkh > 0 ? (ih0 + kh0 * g.dh) * g.w_ * B : 0);
      t.w = wob + cb0 * t.w_cb + kh0 * t.w_kh;
      const int64_t yrow = (n * g.ob + ob0) * t.y_ob + oh * g.ow * B;
      int64_t ow = ow0;
      for (int64_t i = 0; i < ntiles; ++i) {
        const int64_t np = len * (i + 1) / ntiles - len * i / ntiles;
        const bool inside = mode_inside > 0 && ow >= in0 && ow + np <= in1;
        const int64_t iw0 = ow * g.sw - g.pw;
        t.iw0 = iw0;
        t.x = inside ? xrow + iw0 * B : xrow;
        t.y = g.y + yrow + ow * B;
        t.res = g.residual ? g.residual + yrow + ow * B : nullptr;
        kTiles[inside ? mode_inside : 0][nob - 1][np - 1](t);
        ow += np;
      }
    }
  }
}

}  // namespace duet::cpu_kernels::nchwc
