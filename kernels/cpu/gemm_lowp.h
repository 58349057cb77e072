// bfloat16 matrix products with float32 accumulation (the low-precision GEMM of linear, matmul
// and the convolutions; docs/mixed_precision.md).
//
//   // c (m, n) float32 = a (m, k) @ b (k, n), a and b bfloat16, row-major
//   cpu_kernels::gemm_bf16(false, false, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
//
// Three paths, chosen per call by duet::simd::bf16_path() (duet/simd.h): AMX tiles
// (kernels/cpu/gemm_bf16_amx.cpp), AVX-512 BF16 (gemm_bf16_avx512bf16.cpp) and plain C++
// (gemm_lowp.cpp). Every path multiplies the bfloat16 values exactly and accumulates in float32;
// they differ only in the order of the additions. Threading follows cpu_kernels::gemm
// (kernels/cpu/gemm.h): outside a parallel region a large product is split over the threads,
// inside one it runs on the calling thread.
#pragma once

#include <cstdint>

#include "duet/half.h"

namespace duet::cpu_kernels {

// c = alpha * op(a) @ op(b) + beta * c, where op(a) is (m, k), op(b) is (k, n), c is (m, n),
// with the same storage conventions as gemm<T> (kernels/cpu/gemm.h): row-major, leading
// dimensions in elements; trans_a: a is stored (k, m); trans_b: b is stored (n, k).
// beta == 0 ignores c's previous contents (NaN-safe).
void gemm_bf16(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const BFloat16* a, int64_t lda, const BFloat16* b, int64_t ldb, float beta,
               float* c, int64_t ldc);

}  // namespace duet::cpu_kernels
