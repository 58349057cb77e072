// gemm_bf16's AVX-512 BF16 path (gemm_bf16_paths.h): VDPBF16PS (_mm512_dpbf16_ps) on packed
// panels, one 8 x 48 register tile (24 float32 accumulators), BLIS-style blocking.
//
// Loops: NC columns of b -> KC deep slices (pack op(b) into VNNI tiles, gemm_bf16_pack.h) ->
// MC rows of a (pack op(a)) -> 48 columns -> 8 rows -> the k pairs of the slice. VDPBF16PS
// adds two exact products per lane into the float32 accumulator (it treats subnormal inputs
// and results as zero, rounds to nearest even).
#include <immintrin.h>

#include <vector>

#include "cpu/gemm_bf16_pack.h"
#include "cpu/gemm_bf16_paths.h"

namespace duet::cpu_kernels::bf16_detail {
namespace {

constexpr int64_t kKc = 256, kMc = 192, kNc = 3072;  // kMc: multiple of 16, kNc: of 48

// acc (8 rows, 16 np columns) += A rows [r0, r0 + 8) of one 16-row tile strip (kt_count tiles
// of 32 k) times np B tile strips. ap: the strip's first tile; bp: np strips, stride bstride.
template <int NP>
void micro(const uint16_t* ap, const uint16_t* bp, int64_t bstride, int64_t kt_count, int r0,
           float* c, int64_t ldc, int64_t rows, int64_t cols, float alpha, float beta) {
  __m512 acc[8][NP];
  for (int r = 0; r < 8; ++r)
    for (int q = 0; q < NP; ++q) acc[r][q] = _mm512_setzero_ps();
  for (int64_t kt = 0; kt < kt_count; ++kt) {
    const uint16_t* at = ap + kt * kTileElems + r0 * 32;
    const uint16_t* bt = bp + kt * kTileElems;
    for (int p = 0; p < 16; ++p) {
      __m512bh bv[NP];
      for (int q = 0; q < NP; ++q) bv[q] = (__m512bh)_mm512_loadu_si512(bt + q * bstride + p * 32);
      for (int r = 0; r < 8; ++r) {
        uint32_t pair;
        std::memcpy(&pair, at + r * 32 + 2 * p, 4);
        const __m512bh av = (__m512bh)_mm512_set1_epi32(static_cast<int>(pair));
        for (int q = 0; q < NP; ++q) acc[r][q] = _mm512_dpbf16_ps(acc[r][q], av, bv[q]);
      }
    }
  }
  for (int r = 0; r < 8 && r < rows; ++r)
    for (int q = 0; q < NP && 16 * q < cols; ++q)
      store_row(c + r * ldc + 16 * q, acc[r][q], cols - 16 * q, alpha, beta);
}

}  // namespace

void gemm_bf16_avx512bf16(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                          const BFloat16* a, int64_t lda, const BFloat16* b, int64_t ldb,
                          float beta, float* c, int64_t ldc) {
  thread_local std::vector<uint16_t> a_buf, b_buf;
  const int64_t kt_max = tiles(std::min(k, kKc), 32);
  const int64_t a_need = tiles(std::min(m, kMc), 16) * kt_max * kTileElems;
  const int64_t b_need = tiles(std::min(n, kNc), 16) * kt_max * kTileElems;
  if (static_cast<int64_t>(a_buf.size()) < a_need) a_buf.resize(a_need);
  if (static_cast<int64_t>(b_buf.size()) < b_need) b_buf.resize(b_need);
  for (int64_t j0 = 0; j0 < n; j0 += kNc) {
    const int64_t nc = std::min(kNc, n - j0);
    for (int64_t k0 = 0; k0 < k; k0 += kKc) {
      const int64_t kc = std::min(kKc, k - k0), kt_count = tiles(kc, 32);
      const float beta_k = k0 == 0 ? beta : 1.f;
      pack_b(trans_b, b, ldb, j0, nc, k0, kc, b_buf.data());
      for (int64_t i0 = 0; i0 < m; i0 += kMc) {
        const int64_t mc = std::min(kMc, m - i0);
        pack_a(trans_a, a, lda, i0, mc, k0, kc, a_buf.data());
        const int64_t bstride = kt_count * kTileElems;
        for (int64_t jj = 0; jj < nc; jj += 48) {
          const int64_t cols = std::min<int64_t>(48, nc - jj);
          const uint16_t* bp = b_buf.data() + (jj / 16) * bstride;
          for (int64_t ii = 0; ii < mc; ii += 8) {
            const uint16_t* ap = a_buf.data() + (ii / 16) * bstride;
            float* cp = c + (i0 + ii) * ldc + j0 + jj;
            const int64_t rows = std::min<int64_t>(8, mc - ii);
            const int r0 = static_cast<int>(ii % 16);
            if (cols > 32)
              micro<3>(ap, bp, bstride, kt_count, r0, cp, ldc, rows, cols, alpha, beta_k);
            else if (cols > 16)
              micro<2>(ap, bp, bstride, kt_count, r0, cp, ldc, rows, cols, alpha, beta_k);
            else
              micro<1>(ap, bp, bstride, kt_count, r0, cp, ldc, rows, cols, alpha, beta_k);
          }
        }
      }
    }
  }
}

}  // namespace duet::cpu_kernels::bf16_detail
