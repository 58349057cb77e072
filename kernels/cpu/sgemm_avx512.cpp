// Packed AVX-512 SGEMM (see sgemm_avx512.h).
//
// Blocking (BLIS's loop order): for each NC-column block of op(b) and KC-deep slice, op(b)
// is packed into KC x NR micro-panels; for each MC-row block, op(a) is packed into MR x KC
// micro-panels; the micro-kernel multiplies one A micro-panel by one B micro-panel into an
// MR x NR tile held in 24 zmm registers (8 rows x 3 vectors of 16 floats). A B micro-panel
// (KC x NR floats, 36 KiB) stays in L1 while the A micro-panels of the MC block stream from
// L2. Edges are zero-padded when packing; partial tiles go through a small buffer.
#include "cpu/sgemm_avx512.h"

#include <algorithm>
#include <cstring>
#include <memory>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace duet::cpu_kernels {

#if defined(__AVX512F__)
namespace {

constexpr int64_t kMR = 8, kNR = 48, kKC = 192, kMC = 144, kNC = 3072;
// Up to this many rows of op(a), a row-major op(b) is read in place instead of packed.
constexpr int64_t kInPlaceRows = 128;

// A block (mc x kc) of op(a) starting at (i0, p0) -> ceil(mc / MR) micro-panels, each kc
// columns of MR consecutive values (rows past mc are zero).
void pack_a(bool trans, const float* a, int64_t lda, int64_t i0, int64_t p0, int64_t mc, int64_t kc,
            float* dst) {
  for (int64_t ir = 0; ir < mc; ir += kMR) {
    const int64_t mr = std::min(kMR, mc - ir);
    if (!trans) {
      for (int64_t i = 0; i < kMR; ++i) {
        const float* src = a + (i0 + ir + i) * lda + p0;
        if (i < mr)
          for (int64_t p = 0; p < kc; ++p) dst[p * kMR + i] = src[p];
        else
          for (int64_t p = 0; p < kc; ++p) dst[p * kMR + i] = 0.f;
      }
    } else {
      for (int64_t p = 0; p < kc; ++p) {
        const float* src = a + (p0 + p) * lda + i0 + ir;
        for (int64_t i = 0; i < kMR; ++i) dst[p * kMR + i] = i < mr ? src[i] : 0.f;
      }
    }
    dst += kMR * kc;
  }
}

// A block (kc x nc) of op(b) starting at (p0, j0) -> ceil(nc / NR) micro-panels, each kc
// rows of NR consecutive values (columns past nc are zero).
void pack_b(bool trans, const float* b, int64_t ldb, int64_t p0, int64_t j0, int64_t kc, int64_t nc,
            float* dst) {
  for (int64_t jr = 0; jr < nc; jr += kNR) {
    const int64_t nr = std::min(kNR, nc - jr);
    if (!trans) {
      for (int64_t p = 0; p < kc; ++p) {
        const float* src = b + (p0 + p) * ldb + j0 + jr;
        float* d = dst + p * kNR;
        std::memcpy(d, src, static_cast<size_t>(nr) * sizeof(float));
        for (int64_t j = nr; j < kNR; ++j) d[j] = 0.f;
      }
    } else {
      for (int64_t j = 0; j < kNR; ++j) {
        const float* src = b + (j0 + jr + j) * ldb + p0;
        if (j < nr)
          for (int64_t p = 0; p < kc; ++p) dst[p * kNR + j] = src[p];
        else
          for (int64_t p = 0; p < kc; ++p) dst[p * kNR + j] = 0.f;
      }
    }
    dst += kNR * kc;
  }
}

// tile (MR x 16 NV, leading dimension ldt) = alpha * a_panel @ b_panel + beta * tile, from
// the first NV vectors of each NR-wide row of the B micro-panel (NV < 3: the last, narrow
// column tile of a product, so that 49 columns cost 4 vectors, not 6). beta == 0 never reads
// the tile. ldb: the distance between the panel's rows (NR when packed; the operand's own
// leading dimension when a row-major op(b) is read in place).
template <int NV>
inline void micro_kernel(int64_t kc, const float* __restrict a, const float* __restrict b,
                         int64_t ldb, float* t, int64_t ldt, float alpha, float beta) {
  __m512 acc[kMR][NV];
#pragma GCC unroll 8
  for (int i = 0; i < kMR; ++i)
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kc; ++p) {
    __m512 bv[NV];
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_loadu_ps(b + 16 * v);
#pragma GCC unroll 8
    for (int i = 0; i < kMR; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
#pragma GCC unroll 3
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
    }
    a += kMR;
    b += ldb;
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 8
  for (int i = 0; i < kMR; ++i)
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) {
      float* d = t + i * ldt + 16 * v;
      __m512 r = _mm512_mul_ps(va, acc[i][v]);
      if (beta != 0.f) r = _mm512_fmadd_ps(vb, _mm512_loadu_ps(d), r);
      _mm512_storeu_ps(d, r);
    }
}

struct PackBuffers {
  std::unique_ptr<float[], decltype(&std::free)> a{nullptr, &std::free};
  std::unique_ptr<float[], decltype(&std::free)> b{nullptr, &std::free};
  PackBuffers() {
    a.reset(static_cast<float*>(std::aligned_alloc(64, sizeof(float) * kMC * kKC)));
    b.reset(static_cast<float*>(std::aligned_alloc(64, sizeof(float) * kKC * (kNC + kNR))));
  }
};

}  // namespace

bool sgemm_avx512_available() {
  return true;
}

void sgemm_avx512(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                  int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.f) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.f ? 0.f : beta * c[i * ldc + j];
    return;
  }
  thread_local PackBuffers buf;  // one set per thread, reused by every call
  alignas(64) float tile[kMR * kNR];
  for (int64_t jc = 0; jc < n; jc += kNC) {
    const int64_t nc = std::min(kNC, n - jc);
    for (int64_t pc = 0; pc < k; pc += kKC) {
      const int64_t kc = std::min(kKC, k - pc);
      const float beta_p = pc == 0 ? beta : 1.f;  // later slices accumulate
      // A row-major op(b) with few rows of op(a) to share its packing is read in place:
      // packing would copy each element once for only m / MR micro-kernel passes over it.
      // The last, partial column panel is always packed (zero padding).
      const bool in_place = !trans_b && m <= kInPlaceRows;
      const int64_t full = in_place ? nc / kNR * kNR : 0;
      pack_b(trans_b, b, ldb, pc, jc + full, kc, nc - full, buf.b.get());
      for (int64_t ic = 0; ic < m; ic += kMC) {
        const int64_t mc = std::min(kMC, m - ic);
        pack_a(trans_a, a, lda, ic, pc, mc, kc, buf.a.get());
        for (int64_t jr = 0; jr < nc; jr += kNR) {
          const int64_t nr = std::min(kNR, nc - jr);
          const bool direct = jr < full;
          const float* bp =
              direct ? b + pc * ldb + jc + jr : buf.b.get() + ((jr - full) / kNR) * kNR * kc;
          const int64_t bld = direct ? ldb : kNR;
          for (int64_t ir = 0; ir < mc; ir += kMR) {
            const int64_t mr = std::min(kMR, mc - ir);
            const float* ap = buf.a.get() + (ir / kMR) * kMR * kc;
            float* cp = c + (ic + ir) * ldc + jc + jr;
            if (mr == kMR && nr == kNR) {
              micro_kernel<3>(kc, ap, bp, bld, cp, ldc, alpha, beta_p);
              continue;
            }
            // A partial tile goes through the buffer, with as few vectors as it needs.
            if (nr <= 16)
              micro_kernel<1>(kc, ap, bp, bld, tile, kNR, 1.f, 0.f);
            else if (nr <= 32)
              micro_kernel<2>(kc, ap, bp, bld, tile, kNR, 1.f, 0.f);
            else
              micro_kernel<3>(kc, ap, bp, bld, tile, kNR, 1.f, 0.f);
            for (int64_t i = 0; i < mr; ++i)
              for (int64_t j = 0; j < nr; ++j) {
                float& d = cp[i * ldc + j];
                d = beta_p == 0.f ? alpha * tile[i * kNR + j]
                                  : alpha * tile[i * kNR + j] + beta_p * d;
              }
          }
        }
      }
    }
  }
}

#else  // no AVX-512: gemm<float> keeps using Eigen

bool sgemm_avx512_available() {
  return false;
}

void sgemm_avx512(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                  int64_t, float, float*, int64_t) {}

#endif

}  // namespace duet::cpu_kernels
