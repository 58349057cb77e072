// The three single-threaded bodies of cpu_kernels::gemm_bf16 (gemm_lowp.h), each with
// gemm_bf16's contract on the calling thread; gemm_lowp.cpp picks one by simd::bf16_path()
// and splits large products over the threads.
//
//   // c (m, n) = a (m, k) @ b (k, n) on this thread with AMX tiles (only where the CPU has them)
//   bf16_detail::gemm_bf16_amx(false, false, m, n, k, 1.f, a, k, b, n, 0.f, c, n);
//
// All three receive k >= 1, m >= 1, n >= 1 and alpha != 0 (the dispatcher handles the rest).
#pragma once

#include <cstdint>

#include "duet/half.h"

namespace duet::cpu_kernels::bf16_detail {

// Plain C++: blocks of a and b widened to float32 (exactly) and multiplied by gemm<float>.
void gemm_bf16_plain(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                     const BFloat16* a, int64_t lda, const BFloat16* b, int64_t ldb, float beta,
                     float* c, int64_t ldc);

// VDPBF16PS (gemm_bf16_avx512bf16.cpp): needs AVX512_BF16.
void gemm_bf16_avx512bf16(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                          const BFloat16* a, int64_t lda, const BFloat16* b, int64_t ldb,
                          float beta, float* c, int64_t ldc);

// AMX TDPBF16PS (gemm_bf16_amx.cpp): needs AMX-BF16 and the tile permission (simd.h).
void gemm_bf16_amx(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const BFloat16* a, int64_t lda, const BFloat16* b, int64_t ldb, float beta,
                   float* c, int64_t ldc);

}  // namespace duet::cpu_kernels::bf16_detail
