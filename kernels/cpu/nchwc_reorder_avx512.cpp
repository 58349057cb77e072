// The AVX-512 (float32) tiles of to_nchwc / from_nchwc (nchwc_reorder.cpp): 16 x 16 register
// transposes between 16 channel planes and 16 pixels of a blocked (hw, 16) tile. Compiled with
// AVX-512 flags; runs only when nchwc::use_avx512() (rules for these files: nchwc_common.h).
#include "cpu/nchwc_avx512.h"

namespace duet::cpu_kernels::nchwc {
namespace {

// r[i] (row i of a 16 x 16 matrix) -> r[j] = column j. The classic unpack / shuffle network:
// after the ps and pd unpacks r[4j + q] holds, in its 128-bit lane k, column 4k + q of rows
// 4j .. 4j + 3; two rounds of 128-bit shuffles gather the four lanes of each column.
__attribute__((always_inline)) inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int j = 0; j < 4; ++j) {
    const __m512d a = _mm512_castps_pd(t[4 * j]), b = _mm512_castps_pd(t[4 * j + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * j + 2]), d = _mm512_castps_pd(t[4 * j + 3]);
    r[4 * j] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    r[4 * j + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    r[4 * j + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    r[4 * j + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  for (int q = 0; q < 4; ++q) {
    t[q] = _mm512_shuffle_f32x4(r[q], r[4 + q], 0x88);
    t[4 + q] = _mm512_shuffle_f32x4(r[q], r[4 + q], 0xdd);
    t[8 + q] = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0x88);
    t[12 + q] = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0xdd);
  }
  for (int q = 0; q < 4; ++q) {
    r[q] = _mm512_shuffle_f32x4(t[q], t[8 + q], 0x88);
    r[8 + q] = _mm512_shuffle_f32x4(t[q], t[8 + q], 0xdd);
    r[4 + q] = _mm512_shuffle_f32x4(t[4 + q], t[12 + q], 0x88);
    r[12 + q] = _mm512_shuffle_f32x4(t[4 + q], t[12 + q], 0xdd);
  }
}

}  // namespace

// Planes src[l * plane_stride + p] (l < nc, p < hw) -> dst[p * 16 + l], lanes nc..15 zero.
void to_nchwc_tile_avx512(const float* src, int64_t plane_stride, int64_t nc, int64_t hw,
                          float* dst) {
  __m512 r[16];
  for (int64_t p = 0; p < hw; p += 16) {
    const int64_t m = hw - p < 16 ? hw - p : 16;
    const __mmask16 mask = static_cast<__mmask16>((1u << m) - 1u);
    for (int64_t l = 0; l < 16; ++l)
      r[l] = l < nc ? _mm512_maskz_loadu_ps(mask, src + l * plane_stride + p) : _mm512_setzero_ps();
    transpose16(r);
    float* d = dst + p * 16;
    for (int64_t j = 0; j < m; ++j) _mm512_storeu_ps(d + j * 16, r[j]);
  }
}

// Tile src[p * 16 + l] (p < hw) -> planes dst[l * plane_stride + p] (l < nc).
void from_nchwc_tile_avx512(const float* src, int64_t nc, int64_t hw, float* dst,
                            int64_t plane_stride) {
  __m512 r[16];
  for (int64_t p = 0; p < hw; p += 16) {
    const int64_t m = hw - p < 16 ? hw - p : 16;
    const __mmask16 mask = static_cast<__mmask16>((1u << m) - 1u);
    const float* s = src + p * 16;
    for (int64_t j = 0; j < 16; ++j)
      r[j] = j < m ? _mm512_loadu_ps(s + j * 16) : _mm512_setzero_ps();
    transpose16(r);
    for (int64_t l = 0; l < nc; ++l) _mm512_mask_storeu_ps(dst + l * plane_stride + p, mask, r[l]);
  }
}

}  // namespace duet::cpu_kernels::nchwc
