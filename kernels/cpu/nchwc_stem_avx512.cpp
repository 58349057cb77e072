// conv2d_nchwc's plain-input (stem) float32 AVX-512 row kernel (nchwc_dw_stem_avx512.h).
// Compiled with AVX-512 flags; runs only when nchwc::use_avx512() (kernels/cpu/nchwc_common.h).
//
// A register tile is R output pixels x OBT output blocks (4 x 6, 2 x 12, 1 x 14 zmm
// accumulators): for each input channel and tap (c, kh, kw) it loads the OBT weight vectors
// wp[ob][c][kh][kw] (16) and FMAs each with a broadcast of the pixel's input value. The input
// comes zero-padded (xpad), so no tap is clipped. Epilogue in registers: bias, residual,
// activation (nchwc_act_avx512.h).
#include "cpu/nchwc_avx512.h"

#include "cpu/nchwc_act_avx512.h"
#include "cpu/nchwc_dw_stem_avx512.h"

namespace duet::cpu_kernels::nchwc {
namespace {

constexpr int64_t kL = 16;  // lanes per block

struct Stem {
  const DwGeom* g;
  int64_t c, wpad;
  const float* xpad;  // (C, KH, WP)
  const float* wp;    // (Ob, C, KH, KW, 16)
  const float* bias;  // (Ob, 16)
  const float* res;   // (Ob, OH, OW, 16) or null
  float* y;           // (Ob, OH, OW, 16)
  int64_t oh;
  int act;
};

// Pixels [ow0, ow0 + R) of blocks [ob0, ob0 + OBT); SW the stride along W (0: g.sw).
template <int R, int OBT, int SW>
void tile(const Stem& s, int64_t ow0, int64_t ob0) {
  const DwGeom& g = *s.g;
  const int64_t sw = SW > 0 ? SW : g.sw;
  const int64_t taps = g.kh * g.kw, ob_stride = s.c * taps * kL;
  __m512 acc[OBT][R];
#pragma GCC unroll 4
  for (int j = 0; j < OBT; ++j) {
    const __m512 b = _mm512_loadu_ps(s.bias + (ob0 + j) * kL);
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i) acc[j][i] = b;
  }
  const float* w0 = s.wp + ob0 * ob_stride;
  for (int64_t ckh = 0; ckh < s.c * g.kh; ++ckh) {  // (c, kh)
    const float* xr = s.xpad + ckh * s.wpad + ow0 * sw;
    const float* wr = w0 + ckh * g.kw * kL;
    for (int64_t kw = 0; kw < g.kw; ++kw) {
      __m512 wv[OBT];
#pragma GCC unroll 4
      for (int j = 0; j < OBT; ++j) wv[j] = _mm512_loadu_ps(wr + j * ob_stride + kw * kL);
      const float* xp = xr + kw * g.dw;
#pragma GCC unroll 16
      for (int i = 0; i < R; ++i) {
        const __m512 xb = _mm512_set1_ps(xp[i * sw]);
#pragma GCC unroll 4
        for (int j = 0; j < OBT; ++j) acc[j][i] = _mm512_fmadd_ps(xb, wv[j], acc[j][i]);
      }
    }
  }
  const int64_t row = g.ow * kL, plane = g.oh * row;
#pragma GCC unroll 4
  for (int j = 0; j < OBT; ++j) {
    const int64_t o = (ob0 + j) * plane + s.oh * row + ow0 * kL;
    const float* res = s.res ? s.res + o : nullptr;
    if (s.act <= kActRelu6) {
      finish<true>(acc[j], R, res, s.y + o, s.act);
    } else {
      finish_formula(acc[j], R, res, s.y + o, s.act);
    }
  }
}

// Every pixel of blocks [ob0, ob0 + OBT): runs of RMAX, then 4, 2, 1.
template <int RMAX, int OBT, int SW>
void blocks(const Stem& s, int64_t ob0) {
  const int64_t ow_n = s.g->ow;
  int64_t ow = 0;
  for (; ow + RMAX <= ow_n; ow += RMAX) tile<RMAX, OBT, SW>(s, ow, ob0);
  for (; ow + 4 <= ow_n; ow += 4) tile<4, OBT, SW>(s, ow, ob0);
  if (ow + 2 <= ow_n) {
    tile<2, OBT, SW>(s, ow, ob0);
    ow += 2;
  }
  if (ow < ow_n) tile<1, OBT, SW>(s, ow, ob0);
}

template <int SW>
void all_blocks(const Stem& s, int64_t ob0, int64_t ob1) {
  int64_t ob = ob0;
  for (; ob + 4 <= ob1; ob += 4) blocks<6, 4, SW>(s, ob);
  if (ob + 2 <= ob1) {
    blocks<12, 2, SW>(s, ob);
    ob += 2;
  }
  if (ob < ob1) blocks<14, 1, SW>(s, ob);
}

}  // namespace

void stem_row_avx512(const DwGeom& g, int64_t c, const float* xpad, int64_t wpad, const float* wp,
                     const float* bias, const float* res_img, float* y_img, int64_t oh, int64_t ob0,
                     int64_t ob1, int act_code) {
  const Stem s{&g, c, wpad, xpad, wp, bias, res_img, y_img, oh, act_code};
  if (g.sw == 1) {
    all_blocks<1>(s, ob0, ob1);
  } else if (g.sw == 2) {
    all_blocks<2>(s, ob0, ob1);
  } else {
    all_blocks<0>(s, ob0, ob1);
  }
}

}  // namespace duet::cpu_kernels::nchwc
