// cpu_kernels::gemm_bf16 (gemm_lowp.h): the dispatcher over the three paths, the threading, and
// the plain C++ path.
#include "cpu/gemm_lowp.h"

#include <algorithm>
#include <vector>

#include "core/parallel.h"
#include "cpu/gemm.h"
#include "cpu/gemm_bf16_paths.h"
#include "duet/simd.h"

namespace duet::cpu_kernels {
namespace bf16_detail {
namespace {
// dst[0, n) = src[0, n) widened (exact).
inline void widen(const BFloat16* src, int64_t n, float* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i]);
}
}  // namespace

// The plain path widens a KC-deep slice of op(a) (m, KC) and NC-wide blocks of op(b) (KC, NC)
// to float32 and multiplies them with gemm<float> (Eigen or the packed AVX-512 sgemm; on the
// calling thread inside the dispatcher's blocks). bfloat16 -> float32 is exact and a product of
// two bfloat16 values is exact in float32, so this is the same float32-accumulated product as
// the other paths. Scratch: (m + NC) * KC floats per thread.
void gemm_bf16_plain(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                     const BFloat16* a, int64_t lda, const BFloat16* b, int64_t ldb, float beta,
                     float* c, int64_t ldc) {
  constexpr int64_t kKc = 256, kNc = 1024;
  thread_local std::vector<float> a_buf, b_buf;
  const int64_t kc_max = std::min(k, kKc), nc_max = std::min(n, kNc);
  if (static_cast<int64_t>(a_buf.size()) < m * kc_max) a_buf.resize(m * kc_max);
  if (static_cast<int64_t>(b_buf.size()) < kc_max * nc_max) b_buf.resize(kc_max * nc_max);
  for (int64_t k0 = 0; k0 < k; k0 += kKc) {
    const int64_t kc = std::min(kKc, k - k0);
    // a_buf = op(a)[:, k0:k0+kc], widened in a's own order (contiguous reads and writes):
    // (m, kc) row-major, or (kc, m) when a is stored transposed (gemm<float> takes it so).
    if (trans_a) {
      for (int64_t p = 0; p < kc; ++p) widen(a + (k0 + p) * lda, m, a_buf.data() + p * m);
    } else {
      for (int64_t i = 0; i < m; ++i) widen(a + i * lda + k0, kc, a_buf.data() + i * kc);
    }
    const float beta_k = k0 == 0 ? beta : 1.f;
    for (int64_t j0 = 0; j0 < n; j0 += kNc) {
      const int64_t nc = std::min(kNc, n - j0);
      // b_buf = op(b)[k0:k0+kc, j0:j0+nc], likewise: (kc, nc), or (nc, kc) for a transposed b.
      if (trans_b) {
        for (int64_t j = 0; j < nc; ++j) widen(b + (j0 + j) * ldb + k0, kc, b_buf.data() + j * kc);
      } else {
        for (int64_t p = 0; p < kc; ++p) widen(b + (k0 + p) * ldb + j0, nc, b_buf.data() + p * nc);
      }
      gemm<float>(trans_a, trans_b, m, nc, kc, alpha, a_buf.data(), trans_a ? m : kc, b_buf.data(),
                  trans_b ? kc : nc, beta_k, c + j0, ldc);
    }
  }
}

}  // namespace bf16_detail

namespace {

// Below this many multiply-adds a product runs on the calling thread (as gemm<T>).
constexpr int64_t kParallelMacs = 1 << 18;

void serial_gemm_bf16(simd::Bf16Path path, bool trans_a, bool trans_b, int64_t m, int64_t n,
                      int64_t k, float alpha, const BFloat16* a, int64_t lda, const BFloat16* b,
                      int64_t ldb, float beta, float* c, int64_t ldc) {
  switch (path) {
    case simd::Bf16Path::amx:
      bf16_detail::gemm_bf16_amx(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
      return;
    case simd::Bf16Path::avx512_bf16:
      bf16_detail::gemm_bf16_avx512bf16(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c,
                                        ldc);
      return;
    case simd::Bf16Path::plain:
      break;
  }
  bf16_detail::gemm_bf16_plain(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace

void gemm_bf16(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const BFloat16* a, int64_t lda, const BFloat16* b, int64_t ldb, float beta, float* c,
               int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.f) {  // c = beta c, a and b unread (BLAS)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.f ? 0.f : beta * c[i * ldc + j];
    return;
  }
  const simd::Bf16Path path = simd::bf16_path();
  const int threads = parallel::max_threads();
  // Split the columns of c (wide products) or its rows, in multiples of 32 (two AMX tiles;
  // blocks stay aligned to the packed panels).
  const bool split_n = n >= 2 * m || m < 96;
  const int64_t dim = split_n ? n : m, align = 32;
  const int64_t blocks = std::min<int64_t>(threads, (dim + align - 1) / align);
  if (blocks <= 1 || m * n * k < kParallelMacs) {
    serial_gemm_bf16(path, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  // Block i covers the same columns (rows) whichever thread runs it.
  parallel::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t i = b0; i < b1; ++i) {
      const int64_t lo = (dim * i / blocks) / align * align;
      const int64_t hi = i == blocks - 1 ? dim : (dim * (i + 1) / blocks) / align * align;
      if (hi <= lo) continue;
      if (split_n) {
        serial_gemm_bf16(path, trans_a, trans_b, m, hi - lo, k, alpha, a, lda,
                         trans_b ? b + lo * ldb : b + lo, ldb, beta, c + lo, ldc);
      } else {
        serial_gemm_bf16(path, trans_a, trans_b, hi - lo, n, k, alpha,
                         trans_a ? a + lo : a + lo * lda, lda, b, ldb, beta, c + lo * ldc, ldc);
      }
    }
  });
}

}  // namespace duet::cpu_kernels
