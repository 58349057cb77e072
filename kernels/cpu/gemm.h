// A small shared GEMM helper on Eigen, for kernels that need a matrix product.
//
//   // c (m, n) = a (m, k) @ b (n, k)^T, all row-major with leading dimensions
//   cpu_kernels::gemm<float>(false, true, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
//
// Outside a parallel region a large product is split over parallel::max_threads() threads
// (one independent block each); inside one (a parallel_for chunk) it runs on the calling
// thread, so kernels can parallelise over their own work items and call gemm per item.
#pragma once

#include <cstdint>

namespace duet::cpu_kernels {

// c = alpha * op(a) @ op(b) + beta * c, where op(a) is (m, k), op(b) is (k, n), c is (m, n).
// Every matrix is row-major with the given leading dimension (elements between rows):
//   trans_a = false: a is stored (m, k), lda >= k;  trans_a = true: a is stored (k, m), lda >= m.
//   trans_b = false: b is stored (k, n), ldb >= n;  trans_b = true: b is stored (n, k), ldb >= k.
// beta == 0 ignores c's previous contents (NaN-safe). T: float or double.
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
          int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

extern template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*,
                                 int64_t, const float*, int64_t, float, float*, int64_t);
extern template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*,
                                  int64_t, const double*, int64_t, double, double*, int64_t);

}  // namespace duet::cpu_kernels
