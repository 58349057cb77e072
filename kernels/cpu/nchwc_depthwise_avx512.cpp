// depthwise_conv2d_nchwc's float32 AVX-512 row kernel (nchwc_dw_stem_avx512.h). Compiled with
// AVX-512 flags; runs only when nchwc::use_avx512() (kernels/cpu/nchwc_common.h).
//
// Output rows of one 16-channel block: each lane is its own channel, so a pixel is one zmm
// and a tap one FMA with the tap's weight vector (no broadcasts). Interior pixels (every kw tap
// inside the row) go in runs of up to 14 accumulators (the interior split into equal runs), for
// each tap loading the weight once and FMA-ing the run's input vectors; the rows above and below
// the input are clipped for the whole row; the few border pixels take a per-pixel loop that
// clips each tap. Epilogue in registers: bias, residual, activation (nchwc_act_avx512.h).
#include "cpu/nchwc_avx512.h"

#include "cpu/nchwc_act_avx512.h"
#include "cpu/nchwc_dw_stem_avx512.h"

namespace duet::cpu_kernels::nchwc {
namespace {

constexpr int64_t kL = 16;  // lanes per block

struct Row {
  const float* x;  // x plane (H, W, 16)
  const float* w;  // weights (KH, KW, 16)
  const float* res;
  float* y;
  __m512 bias;
  int64_t ih0, kh0, kh1;  // first input row; taps [kh0, kh1) fall inside the input
};

// Pixels [ow0, ow0 + R), every kw tap inside the row; SW the stride along W (0: g.sw).
template <int R, int SW>
void run(const DwGeom& g, const Row& r, int64_t ow0, int act) {
  const int64_t sw = SW > 0 ? SW : g.sw;
  __m512 acc[R];
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i) acc[i] = r.bias;
  for (int64_t kh = r.kh0; kh < r.kh1; ++kh) {
    const int64_t xrow = ((r.ih0 + kh * g.dh) * g.w + ow0 * sw - g.pw) * kL;
    const float* wr = r.w + kh * g.kw * kL;
    for (int64_t kw = 0; kw < g.kw; ++kw) {
      const __m512 wv = _mm512_loadu_ps(wr + kw * kL);
      const float* xp = r.x + xrow + kw * g.dw * kL;
#pragma GCC unroll 16
      for (int i = 0; i < R; ++i)
        acc[i] = _mm512_fmadd_ps(_mm512_loadu_ps(xp + i * sw * kL), wv, acc[i]);
    }
  }
  const float* res = r.res ? r.res + ow0 * kL : nullptr;
  if (act <= kActRelu6) {
    finish<true>(acc, R, res, r.y + ow0 * kL, act);
  } else {
    finish_formula(acc, R, res, r.y + ow0 * kL, act);
  }
}

// run<R, 1> for stride 1, dilation 1 and KW taps along W: each input vector of a kernel row is
// loaded once and FMA-ed into the (up to KW) accumulators it reaches, with the row's KW weight
// vectors in registers (R + KW - 1 loads instead of R * KW).
template <int R, int KW>
void run_s1(const DwGeom& g, const Row& r, int64_t ow0, int act) {
  __m512 acc[R];
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i) acc[i] = r.bias;
  for (int64_t kh = r.kh0; kh < r.kh1; ++kh) {
    const float* xp = r.x + ((r.ih0 + kh * g.dh) * g.w + ow0 - g.pw) * kL;
    const float* wr = r.w + kh * KW * kL;
    __m512 wv[KW];
#pragma GCC unroll 8
    for (int kw = 0; kw < KW; ++kw) wv[kw] = _mm512_loadu_ps(wr + kw * kL);
#pragma GCC unroll 32
    for (int i = 0; i < R + KW - 1; ++i) {
      const __m512 xv = _mm512_loadu_ps(xp + i * kL);
#pragma GCC unroll 8
      for (int kw = 0; kw < KW; ++kw) {
        const int o = i - kw;  // the output pixel this tap feeds
        if (o >= 0 && o < R) acc[o] = _mm512_fmadd_ps(xv, wv[kw], acc[o]);
      }
    }
  }
  const float* res = r.res ? r.res + ow0 * kL : nullptr;
  if (act <= kActRelu6) {
    finish<true>(acc, R, res, r.y + ow0 * kL, act);
  } else {
    finish_formula(acc, R, res, r.y + ow0 * kL, act);
  }
}

// A run of length len known at run time (1 <= len <= 14): Mode 0, 1, 2 run<len, Mode>; Mode
// 10 + KW run_s1<len, KW>.
template <int Mode, int K = 1>
void run_len(const DwGeom& g, const Row& r, int64_t ow0, int64_t len, int act) {
  if constexpr (K <= 14) {
    if (len == K) {
      if constexpr (Mode >= 10) return run_s1<K, Mode - 10>(g, r, ow0, act);
      return run<K, Mode>(g, r, ow0, act);
    }
    run_len<Mode, K + 1>(g, r, ow0, len, act);
  }
}

// Pixels [lo, hi) in ceil((hi - lo) / 14) runs of equal length (+-1): every run has as many
// independent accumulators as it can.
template <int Mode>
void runs(const DwGeom& g, const Row& r, int64_t lo, int64_t hi, int act) {
  const int64_t n = hi - lo, parts = (n + 13) / 14;
  if (parts == 1) return run_len<Mode>(g, r, lo, n, act);
  for (int64_t p = 0; p < parts; ++p) {
    const int64_t a = lo + n * p / parts;
    run_len<Mode>(g, r, a, lo + n * (p + 1) / parts - a, act);
  }
}

// One pixel, each tap clipped; the kh rows' sums are independent chains.
void pixel(const DwGeom& g, const Row& r, int64_t ow, int act) {
  __m512 acc0 = r.bias, acc1 = _mm512_setzero_ps();
  const int64_t iw0 = ow * g.sw - g.pw;
  for (int64_t kh = r.kh0; kh < r.kh1; ++kh) {
    const int64_t xrow = (r.ih0 + kh * g.dh) * g.w;
    const float* wr = r.w + kh * g.kw * kL;
    __m512 s = _mm512_setzero_ps();
    for (int64_t kw = 0; kw < g.kw; ++kw) {
      const int64_t iw = iw0 + kw * g.dw;
      if (iw < 0 || iw >= g.w) continue;
      s = _mm512_fmadd_ps(_mm512_loadu_ps(r.x + (xrow + iw) * kL), _mm512_loadu_ps(wr + kw * kL),
                          s);
    }
    if (kh & 1) {
      acc1 = _mm512_add_ps(acc1, s);
    } else {
      acc0 = _mm512_add_ps(acc0, s);
    }
  }
  const __m512 v = _mm512_add_ps(acc0, acc1);
  finish_formula(&v, 1, r.res ? r.res + ow * kL : nullptr, r.y + ow * kL, act);
}

}  // namespace

void depthwise_rows_avx512(const DwGeom& g, const float* x_plane, const float* w_block,
                           const float* bias16, const float* res_plane, float* y_plane, int64_t oh0,
                           int64_t oh1, int act_code) {
  // Interior pixels [lo, hi): ow * sw - pw >= 0 and ow * sw - pw + (KW - 1) * dw < W.
  int64_t lo = (g.pw + g.sw - 1) / g.sw;
  const int64_t last = g.w - 1 + g.pw - (g.kw - 1) * g.dw;
  int64_t hi = last < 0 ? 0 : last / g.sw + 1;
  if (lo > g.ow) lo = g.ow;
  if (hi > g.ow) hi = g.ow;
  if (hi < lo) hi = lo;
  const int64_t row = g.ow * kL;
  const __m512 bias = _mm512_loadu_ps(bias16);
  for (int64_t oh = oh0; oh < oh1; ++oh) {
    Row r{x_plane,
          w_block,
          res_plane ? res_plane + oh * row : nullptr,
          y_plane + oh * row,
          bias,
          oh * g.sh - g.ph,
          0,
          0};
    // Taps kh with 0 <= ih0 + kh * dh < H.
    if (g.dh == 1) {
      r.kh0 = r.ih0 >= 0 ? 0 : -r.ih0;
      r.kh1 = g.h - r.ih0;
    } else {
      r.kh0 = r.ih0 >= 0 ? 0 : (-r.ih0 + g.dh - 1) / g.dh;
      r.kh1 = r.ih0 > g.h - 1 ? 0 : (g.h - 1 - r.ih0) / g.dh + 1;
    }
    if (r.kh1 > g.kh) r.kh1 = g.kh;
    if (r.kh1 < 0) r.kh1 = 0;
    if (r.kh0 > r.kh1) r.kh0 = r.kh1;
    for (int64_t ow = 0; ow < lo; ++ow) pixel(g, r, ow, act_code);
    if (g.sw == 1 && g.dw == 1 && g.kw == 3) {
      runs<13>(g, r, lo, hi, act_code);
    } else if (g.sw == 1 && g.dw == 1 && g.kw == 5) {
      runs<15>(g, r, lo, hi, act_code);
    } else if (g.sw == 1) {
      runs<1>(g, r, lo, hi, act_code);
    } else if (g.sw == 2) {
      runs<2>(g, r, lo, hi, act_code);
    } else {
      runs<0>(g, r, lo, hi, act_code);
    }
    for (int64_t ow = hi; ow < g.ow; ++ow) pixel(g, r, ow, act_code);
  }
}

}  // namespace duet::cpu_kernels::nchwc
