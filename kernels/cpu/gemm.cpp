#include "cpu/gemm.h"

// Threading is ours, not Eigen's: a large product is split into one independent block per
// thread (parallel::parallel_for), each running Eigen's single-threaded GEMM. Measured as fast as
// Eigen's own threaded GEMM on an idle machine, and far more robust when other processes compete
// for the cores (Eigen's GEMM threads busy-wait on each other's packed panels).
#define EIGEN_DONT_PARALLELIZE
// GCC 12 reports false "may be used uninitialized" warnings inside its AVX-512 intrinsics
// (_mm512_undefined_*) when Eigen's GEMM kernels are instantiated; they are harmless.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <Eigen/Core>
#include <algorithm>
#include <type_traits>

#include "core/parallel.h"
#include "cpu/sgemm_avx512.h"

namespace duet::cpu_kernels {
namespace {

template <class T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using ConstMap = Eigen::Map<const RowMat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using MutMap = Eigen::Map<RowMat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

// Below this many multiply-adds a product runs on the calling thread.
constexpr int64_t kParallelMacs = 1 << 18;

template <class T, class A, class B>
void product(const A& a, const B& b, T alpha, T beta, MutMap<T>& c) {
  if (beta == T(0)) {
    c.noalias() = alpha * a * b;
  } else {
    if (beta != T(1)) c *= beta;
    c.noalias() += alpha * a * b;
  }
}

template <class T>
void serial_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                 int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if constexpr (std::is_same_v<T, float>) {
    // The packed kernel wins on big products. Eigen keeps: matrix-vector shapes (linear
    // layers at batch 1: its GEMV streams the matrix once, packing would copy it), narrow
    // ones (n < 64: a 7x7 map at batch 1, where packing the weights costs as much as the
    // product) and small ones (< 4M multiply-adds, where packing does not pay; measured on
    // the Fashion-MNIST CNN at batch 1).
    if (sgemm_avx512_available() && m >= 4 && n >= 64 && m * n * k >= (int64_t{1} << 22)) {
      sgemm_avx512(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
      return;
    }
  }
  MutMap<T> cm(c, m, n, Eigen::OuterStride<>(ldc));
  if (k <= 0) {
    if (beta == T(0))
      cm.setZero();
    else
      cm *= beta;
    return;
  }
  // Stored shapes: a is (m, k) or (k, m); b is (k, n) or (n, k).
  ConstMap<T> am(a, trans_a ? k : m, trans_a ? m : k, Eigen::OuterStride<>(lda));
  ConstMap<T> bm(b, trans_b ? n : k, trans_b ? k : n, Eigen::OuterStride<>(ldb));
  if (!trans_a && !trans_b)
    product(am, bm, alpha, beta, cm);
  else if (!trans_a && trans_b)
    product(am, bm.transpose(), alpha, beta, cm);
  else if (trans_a && !trans_b)
    product(am.transpose(), bm, alpha, beta, cm);
  else
    product(am.transpose(), bm.transpose(), alpha, beta, cm);
}

}  // namespace

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
          int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  const int threads = parallel::max_threads();
  // Split the columns of c (wide products) or its rows, in multiples of Eigen's register
  // tile (48 rows x 4 columns for float with AVX-512; 16 keeps column blocks aligned).
  const bool split_n = n >= 2 * m || m < 96;
  const int64_t dim = split_n ? n : m, align = split_n ? 16 : 48;
  const int64_t blocks = std::min<int64_t>(threads, (dim + align - 1) / align);
  if (blocks <= 1 || m * n * std::max<int64_t>(k, 1) < kParallelMacs) {
    serial_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  // Block i covers the same columns (rows) whichever thread runs it.
  parallel::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t i = b0; i < b1; ++i) {
      const int64_t lo = (dim * i / blocks) / align * align;
      const int64_t hi = i == blocks - 1 ? dim : (dim * (i + 1) / blocks) / align * align;
      if (hi <= lo) continue;
      if (split_n) {
        serial_gemm(trans_a, trans_b, m, hi - lo, k, alpha, a, lda, trans_b ? b + lo * ldb : b + lo,
                    ldb, beta, c + lo, ldc);
      } else {
        serial_gemm(trans_a, trans_b, hi - lo, n, k, alpha, trans_a ? a + lo : a + lo * lda, lda, b,
                    ldb, beta, c + lo * ldc, ldc);
      }
    }
  });
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t);

}  // namespace duet::cpu_kernels
