// The AVX-512 (float32) rows of the blocked-layout pools (nchwc_pool.cpp): one zmm holds a
// pixel's 16 channels, so a window is a loop of vector loads. Same results as the generic rows:
// max keeps NaN (the last NaN wins), avg sums in double in row-major window order.
// Compiled with AVX-512 flags; runs only when nchwc::use_avx512() (rules: nchwc_common.h).
#include "cpu/nchwc_avx512.h"

namespace duet::cpu_kernels::nchwc {

// _mm512_max_ps(v, acc) is (v > acc ? v : acc): max_pool2d's rule (the first maximum wins) for
// every v but a NaN, which it drops. So the window runs on max_ps alone, with a NaN probe (the sum
// of the taps: NaN when one is NaN, or, harmlessly, from infinities); a window whose probe is NaN
// is run again with the exact rule (take v where v > acc or v is NaN).
void max_pool_row_avx512(const float* x, int64_t W, int64_t h0, int64_t h1, int64_t dh,
                         const int64_t* wlo, const int64_t* whi, int64_t dw, int64_t OW, float* y) {
  const __m512 ninf = _mm512_set1_ps(-__builtin_inff());
  for (int64_t ow = 0; ow < OW; ++ow) {
    __m512 acc = ninf, probe = _mm512_setzero_ps();
    const int64_t w0 = wlo[ow], w1 = whi[ow];
    if (dh == 1 && dw == 1) {
      for (int64_t ih = h0; ih < h1; ++ih) {
        const float* row = x + ih * W * 16;
        for (int64_t iw = w0; iw < w1; ++iw) {
          const __m512 v = _mm512_loadu_ps(row + iw * 16);
          acc = _mm512_max_ps(v, acc);
          probe = _mm512_add_ps(probe, v);
        }
      }
    } else {
      for (int64_t ih = h0; ih<h1; ih = h1 - ih> dh ? ih + dh : h1) {
        const float* row = x + ih * W * 16;
        for (int64_t iw = w0; iw<w1; iw = w1 - iw> dw ? iw + dw : w1) {
          const __m512 v = _mm512_loadu_ps(row + iw * 16);
          acc = _mm512_max_ps(v, acc);
          probe = _mm512_add_ps(probe, v);
        }
      }
    }
    if (_mm512_cmp_ps_mask(probe, probe, _CMP_UNORD_Q) != 0) {
      acc = ninf;
      for (int64_t ih = h0; ih<h1; ih = h1 - ih> dh ? ih + dh : h1) {
        const float* row = x + ih * W * 16;
        for (int64_t iw = w0; iw<w1; iw = w1 - iw> dw ? iw + dw : w1) {
          const __m512 v = _mm512_loadu_ps(row + iw * 16);
          const __mmask16 take =
              _mm512_cmp_ps_mask(v, acc, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
          acc = _mm512_mask_blend_ps(take, acc, v);
        }
      }
    }
    _mm512_storeu_ps(y + ow * 16, acc);
  }
}

void avg_pool_row_avx512(const float* x, int64_t W, int64_t h0, int64_t h1, const int64_t* wlo,
                         const int64_t* whi, double hcount, const double* wcount, int64_t OW,
                         float* y) {
  for (int64_t ow = 0; ow < OW; ++ow) {
    __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
    const int64_t w0 = wlo[ow], w1 = whi[ow];
    for (int64_t ih = h0; ih < h1; ++ih) {
      const float* row = x + ih * W * 16;
      for (int64_t iw = w0; iw < w1; ++iw) {
        const __m512 v = _mm512_loadu_ps(row + iw * 16);
        lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
        hi = _mm512_add_pd(
            hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
      }
    }
    __m512 r = _mm512_setzero_ps();
    if (h0 < h1 && w0 < w1) {
      const __m512d div = _mm512_set1_pd(hcount * wcount[ow]);
      const __m256 rl = _mm512_cvtpd_ps(_mm512_div_pd(lo, div));
      const __m256 rh = _mm512_cvtpd_ps(_mm512_div_pd(hi, div));
      r = _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(rl)),
                                              _mm256_castps_pd(rh), 1));
    }
    _mm512_storeu_ps(y + ow * 16, r);
  }
}

void sum_pixels_avx512(const float* x, int64_t n, double* sum) {
  __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
  for (int64_t p = 0; p < n; ++p) {
    const __m512 v = _mm512_loadu_ps(x + p * 16);
    lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
    hi = _mm512_add_pd(
        hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
  }
  _mm512_storeu_pd(sum, lo);
  _mm512_storeu_pd(sum + 8, hi);
}

}  // namespace duet::cpu_kernels::nchwc
