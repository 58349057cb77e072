// A packed single-precision GEMM for AVX-512 (BLIS-style blocking, one 8 x 48 register
// tile), used by cpu_kernels::gemm<float> instead of Eigen's GEMM when the CPU has AVX-512.
//
//   // c (m, n) = alpha * op(a) (m, k) @ op(b) (k, n) + beta * c, row-major, one thread
//   if (cpu_kernels::sgemm_avx512_available())
//     cpu_kernels::sgemm_avx512(false, false, m, n, k, 1.f, a, k, b, n, 0.f, c, n);
#pragma once

#include <cstdint>

namespace duet::cpu_kernels {

// True when this build was compiled with AVX-512F (-march=native on such a CPU).
bool sgemm_avx512_available();

// Same contract as gemm<float> (gemm.h), on the calling thread only.
void sgemm_avx512(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                  int64_t ldc);

}  // namespace duet::cpu_kernels
