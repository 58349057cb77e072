// The packed panels shared by the AVX-512 BF16 and AMX paths of gemm_bf16 (gemm_bf16_paths.h),
// included only by their translation units (compiled for AVX-512; internal linkage, so no other
// file gets these AVX-512 bodies).
//
//   pack_a(trans_a, a, lda, m, k, i0, mc, k0, kc, ap);  // op(a)[i0:i0+mc, k0:k0+kc] -> ap
//   pack_b(trans_b, b, ldb, k, n, k0, kc, j0, nc, bp);  // op(b)[k0:k0+kc, j0:j0+nc] -> bp
//
// Both are cut into 1 KiB tiles, the operands of one AMX TDPBF16PS (and of 16 x 16 VDPBF16PS):
//   A tile (16 rows, 32 k):          ap[((it * kt_count + kt) * 16 + r) * 32 + kk]
//                                     = op(a)[i0 + 16 it + r, k0 + 32 kt + kk]
//   B tile (16 k pairs, 16 columns, 2: the VNNI layout):
//                                    bp[((jt * kt_count + kt) * 16 + p) * 32 + 2 j + e]
//                                     = op(b)[k0 + 32 kt + 2 p + e, j0 + 16 jt + j]
// with kt_count = ceil(kc / 32); rows, columns and k beyond the matrix are zero, so a tile is
// always full and the padding adds nothing.
#pragma once

// GCC 12 reports false "'__Y' may be used uninitialized" inside its own AVX-512 intrinsics
// (_mm512_undefined_* in the masked loads and widening conversions below).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "duet/half.h"

namespace duet::cpu_kernels::bf16_detail {
namespace {

constexpr int64_t kTileElems = 512;  // 16 x 32 bfloat16

inline int64_t tiles(int64_t len, int64_t tile) {
  return (len + tile - 1) / tile;
}

inline __mmask32 mask32(int64_t count) {
  return count >= 32 ? ~__mmask32{0} : static_cast<__mmask32>((uint32_t{1} << count) - 1u);
}
inline __mmask16 mask16(int64_t count) {
  return count >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << count) - 1u);
}

// op(a)[i0:i0+mc, k0:k0+kc] -> ap (ceil(mc/16) x ceil(kc/32) tiles). a is (m, k), or (k, m)
// when trans_a.
inline void pack_a(bool trans_a, const BFloat16* a, int64_t lda, int64_t i0, int64_t mc, int64_t k0,
                   int64_t kc, uint16_t* ap) {
  const int64_t it_count = tiles(mc, 16), kt_count = tiles(kc, 32);
  if (!trans_a) {
    // Row by row, each read front to back (one stream) into its kt_count tiles.
    for (int64_t it = 0; it < it_count; ++it) {
      const int64_t rows = std::min<int64_t>(16, mc - 16 * it);
      for (int64_t r = 0; r < 16; ++r) {
        const BFloat16* src = a + (i0 + 16 * it + r) * lda + k0;
        uint16_t* dst = ap + it * kt_count * kTileElems + r * 32;
        for (int64_t kt = 0; kt < kt_count; ++kt) {
          __m512i v = _mm512_setzero_si512();
          if (r < rows) v = _mm512_maskz_loadu_epi16(mask32(kc - 32 * kt), src + 32 * kt);
          _mm512_storeu_si512(dst + kt * kTileElems, v);
        }
      }
    }
    return;
  }
  // a[(k0 + 32 kt + kk) * lda + i0 + 16 it + r]: 32 x 16 blocks, transposed; consecutive it
  // read the next 32 bytes of the same 32 rows.
  for (int64_t kt = 0; kt < kt_count; ++kt) {
    const int64_t depth = std::min<int64_t>(32, kc - 32 * kt);
    for (int64_t it = 0; it < it_count; ++it) {
      uint16_t* t = ap + (it * kt_count + kt) * kTileElems;
      const __mmask16 mr = mask16(mc - 16 * it);
      alignas(64) uint16_t col[32][16];
      for (int64_t kk = 0; kk < 32; ++kk) {
        __m256i v = _mm256_setzero_si256();
        if (kk < depth)
          v = _mm256_maskz_loadu_epi16(mr, a + (k0 + 32 * kt + kk) * lda + i0 + 16 * it);
        _mm256_store_si256(reinterpret_cast<__m256i*>(col[kk]), v);
      }
      for (int64_t r = 0; r < 16; ++r)
        for (int64_t kk = 0; kk < 32; ++kk) t[r * 32 + kk] = col[kk][r];
    }
  }
}

// op(b)[k0:k0+kc, j0:j0+nc] -> bp (ceil(nc/16) x ceil(kc/32) VNNI tiles). b is (k, n), or
// (n, k) when trans_b.
inline void pack_b(bool trans_b, const BFloat16* b, int64_t ldb, int64_t j0, int64_t nc, int64_t k0,
                   int64_t kc, uint16_t* bp) {
  const int64_t jt_count = tiles(nc, 16), kt_count = tiles(kc, 32);
  if (!trans_b) {
    // Rows 2p and 2p + 1 of b, read front to back (two streams), 32 columns at a time:
    // unpacklo/hi interleave the pairs within each 128-bit lane (columns 0-3 | 8-11 | ... and
    // 4-7 | 12-15 | ...), one permute per tile puts the lanes in column order.
    const __m512i idx0 = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
    const __m512i idx1 = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
    for (int64_t kt = 0; kt < kt_count; ++kt) {
      const int64_t depth = std::min<int64_t>(32, kc - 32 * kt);
      for (int64_t p = 0; p < 16; ++p) {
        const BFloat16* row0 = b + (k0 + 32 * kt + 2 * p) * ldb + j0;
        const BFloat16* row1 = row0 + ldb;
        uint16_t* dst = bp + kt * kTileElems + p * 32;
        for (int64_t jt = 0; jt < jt_count; jt += 2) {
          const __mmask32 mc = mask32(nc - 16 * jt);
          __m512i r0 = _mm512_setzero_si512(), r1 = _mm512_setzero_si512();
          if (2 * p < depth) r0 = _mm512_maskz_loadu_epi16(mc, row0 + 16 * jt);
          if (2 * p + 1 < depth) r1 = _mm512_maskz_loadu_epi16(mc, row1 + 16 * jt);
          const __m512i lo = _mm512_unpacklo_epi16(r0, r1), hi = _mm512_unpackhi_epi16(r0, r1);
          _mm512_storeu_si512(dst + jt * kt_count * kTileElems,
                              _mm512_permutex2var_epi64(lo, idx0, hi));
          if (jt + 1 < jt_count)
            _mm512_storeu_si512(dst + (jt + 1) * kt_count * kTileElems,
                                _mm512_permutex2var_epi64(lo, idx1, hi));
        }
      }
    }
    return;
  }
  // Row j of b holds column j: its 16 k pairs are 16 32-bit words; transpose 16 x 16.
  for (int64_t jt = 0; jt < jt_count; ++jt) {
    const int64_t cols = std::min<int64_t>(16, nc - 16 * jt);
    for (int64_t kt = 0; kt < kt_count; ++kt) {
      uint16_t* t = bp + (jt * kt_count + kt) * kTileElems;
      alignas(64) uint32_t row[16][16];
      const __mmask32 mk = mask32(kc - 32 * kt);
      for (int64_t j = 0; j < 16; ++j) {
        __m512i v = _mm512_setzero_si512();
        if (j < cols) v = _mm512_maskz_loadu_epi16(mk, b + (j0 + 16 * jt + j) * ldb + k0 + 32 * kt);
        _mm512_store_si512(row[j], v);
      }
      uint32_t* t32 = reinterpret_cast<uint32_t*>(t);
      for (int64_t p = 0; p < 16; ++p)
        for (int64_t j = 0; j < 16; ++j) t32[p * 16 + j] = row[j][p];
    }
  }
}

// c[r, 0:cols] = alpha acc + beta c (beta == 0: c is not read) for one 16-wide row slice.
inline void store_row(float* c, __m512 acc, int64_t cols, float alpha, float beta) {
  const __mmask16 m = mask16(cols);
  __m512 v = _mm512_mul_ps(acc, _mm512_set1_ps(alpha));
  if (beta != 0.f) v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, c), _mm512_set1_ps(beta), v);
  _mm512_mask_storeu_ps(c, m, v);
}

}  // namespace
}  // namespace duet::cpu_kernels::bf16_detail
