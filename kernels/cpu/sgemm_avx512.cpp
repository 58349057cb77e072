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

// op(a)[i, p] and op(b)[p, j] of the row-major operands.
inline float at_a(bool trans, const float* a, int64_t lda, int64_t i, int64_t p) {
  return trans ? a[p * lda + i] : a[i * lda + p];
}

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

// tile (MR x NR, leading dimension ldt) = alpha * a_panel @ b_panel + beta * tile;
// beta == 0 never reads the tile.
inline void micro_kernel(int64_t kc, const float* __restrict a, const float* __restrict b, float* t,
                         int64_t ldt, float alpha, float beta) {
  __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
  __m512 c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
  __m512 c40 = c00, c41 = c00, c42 = c00, c50 = c00, c51 = c00, c52 = c00;
  __m512 c60 = c00, c61 = c00, c62 = c00, c70 = c00, c71 = c00, c72 = c00;
  for (int64_t p = 0; p < kc; ++p) {
    const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16), b2 = _mm512_load_ps(b + 32);
    __m512 ai;
#define DUET_ROW(i)                           \
  ai = _mm512_set1_ps(a[i]);                  \
  c##i##0 = _mm512_fmadd_ps(ai, b0, c##i##0); \
  c##i##1 = _mm512_fmadd_ps(ai, b1, c##i##1); \
  c##i##2 = _mm512_fmadd_ps(ai, b2, c##i##2);
    DUET_ROW(0)
    DUET_ROW(1) DUET_ROW(2) DUET_ROW(3) DUET_ROW(4) DUET_ROW(5) DUET_ROW(6) DUET_ROW(7)
#undef DUET_ROW
        a += kMR;
    b += kNR;
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  auto put = [&](float* d, __m512 v) {
    v = _mm512_mul_ps(va, v);
    if (beta != 0.f) v = _mm512_fmadd_ps(vb, _mm512_loadu_ps(d), v);
    _mm512_storeu_ps(d, v);
  };
#define DUET_PUT(i)               \
  put(t + (i)*ldt, c##i##0);      \
  put(t + (i)*ldt + 16, c##i##1); \
  put(t + (i)*ldt + 32, c##i##2);
  DUET_PUT(0) DUET_PUT(1) DUET_PUT(2) DUET_PUT(3) DUET_PUT(4) DUET_PUT(5) DUET_PUT(6) DUET_PUT(7)
#undef DUET_PUT
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
      pack_b(trans_b, b, ldb, pc, jc, kc, nc, buf.b.get());
      for (int64_t ic = 0; ic < m; ic += kMC) {
        const int64_t mc = std::min(kMC, m - ic);
        pack_a(trans_a, a, lda, ic, pc, mc, kc, buf.a.get());
        for (int64_t jr = 0; jr < nc; jr += kNR) {
          const int64_t nr = std::min(kNR, nc - jr);
          const float* bp = buf.b.get() + (jr / kNR) * kNR * kc;
          for (int64_t ir = 0; ir < mc; ir += kMR) {
            const int64_t mr = std::min(kMR, mc - ir);
            const float* ap = buf.a.get() + (ir / kMR) * kMR * kc;
            float* cp = c + (ic + ir) * ldc + jc + jr;
            if (mr == kMR && nr == kNR) {
              micro_kernel(kc, ap, bp, cp, ldc, alpha, beta_p);
              continue;
            }
            micro_kernel(kc, ap, bp, tile, kNR, 1.f, 0.f);  // partial tile via the buffer
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
