// Bulk element conversions between the floating dtypes and bfloat16 / float16 (contiguous
// buffers): the cast op's CPU kernel, the float32 round trip of low-precision calls
// (src/ops/prepare.cpp) and the low-precision kernels use them.
//
//   std::vector<float> x(n);
//   std::vector<duet::BFloat16> b(n);
//   duet::convert::float_to_bf16(x.data(), b.data(), n);  // = BFloat16(x[i]) for every i
//   duet::convert::convert(x.data(), duet::float32, b.data(), duet::bfloat16, n);  // the same
//
// Every function gives exactly the bits of the scalar conversions in duet/half.h (round to
// nearest even, NaN quiet, float16 subnormals kept and overflow to infinity), whichever path
// runs: AVX-512 (kernels/cpu/convert_avx512bf16.cpp) when duet::simd::kernel_isa() is avx512,
// plain C++ otherwise. Large conversions (over kParallelElements) are split over the thread
// pool; calls from inside a parallel region run on the calling thread.
#pragma once

#include <cstdint>

#include "duet/dtype.h"
#include "duet/half.h"

namespace duet::convert {

// Conversions of more elements than this run on the thread pool.
inline constexpr int64_t kParallelElements = int64_t{1} << 16;

void float_to_bf16(const float* src, BFloat16* dst, int64_t n);
void bf16_to_float(const BFloat16* src, float* dst, int64_t n);
void float_to_fp16(const float* src, Float16* dst, int64_t n);
void fp16_to_float(const Float16* src, float* dst, int64_t n);

// Any pair of dtypes where one side is bfloat16 or float16 (or both are float32), n
// contiguous elements: src holds n elements of `from`, dst n of `to`. The other dtypes go
// through float32 as half.h's constructors do: float64 is rounded to float32 first, int64 is
// converted to the nearest float32 first, bool is 0 or 1; to int64 truncates toward zero and
// saturates (NaN -> 0), to bool is "!= 0" (NaN -> true), as detail::strided_copy does.
// Returns false (converting nothing) for a pair without a low-precision side.
bool convert(const void* src, DType from, void* dst, DType to, int64_t n);

// The single-threaded AVX-512 loops (convert_avx512bf16.cpp; the bits as half.h): call only
// when simd::kernel_isa() == simd::Isa::avx512.
namespace avx512 {
void float_to_bf16(const float* src, uint16_t* dst, int64_t n);
void bf16_to_float(const uint16_t* src, float* dst, int64_t n);
void float_to_fp16(const float* src, uint16_t* dst, int64_t n);
void fp16_to_float(const uint16_t* src, float* dst, int64_t n);
}  // namespace avx512

}  // namespace duet::convert
