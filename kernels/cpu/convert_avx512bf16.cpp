// The AVX-512 loops of kernels/cpu/convert.h, 16 elements per step, the tail masked. Compiled
// with AVX-512 and F16C flags whatever the build's -march (CMakeLists.txt: *_avx512bf16.cpp)
// and run only when simd::kernel_isa() is avx512, so this file includes no header with inline
// functions of its own (an AVX-512 copy could replace the generic one at link time).
//
// float -> bfloat16 is integer arithmetic, half.h's formula: VCVTNEPS2BF16 would flush
// float32 denormals to zero, where half.h rounds them. float -> float16 is VCVTPS2PH with
// round-to-nearest-even, which keeps float16 subnormals, overflows to infinity, ignores
// MXCSR.FTZ and quiets NaN keeping the payload's upper bits, as half.h does. float16 -> float
// is VCVTPH2PS (exact), except that half.h keeps a signalling NaN signalling.
#include "cpu/nchwc_avx512.h"  // <immintrin.h> and GCC 12's pragmas, nothing inline

namespace duet::convert::avx512 {
namespace {

// 16 floats -> 16 bfloat16 bits.
inline __m256i bf16_of(__m512 x) {
  const __m512i u = _mm512_castps_si512(x);
  const __m512i abs = _mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff));
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(abs, _mm512_set1_epi32(0x7f800000));
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  const __m512i rounded =
      _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
  const __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
  return _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(nan, rounded, quiet));
}

// 16 float16 bits -> 16 floats. VCVTPH2PS quiets a signalling NaN; half.h keeps the payload
// as it is (sign, all-ones exponent, fraction << 13), so NaN lanes take that formula.
inline __m512 float_of_fp16(__m256i h) {
  const __m512 f = _mm512_cvtph_ps(h);
  const __m512i u = _mm512_cvtepu16_epi32(h);
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fff)),
                                                _mm512_set1_epi32(0x7c00));
  if (!nan) return f;
  const __m512i sign = _mm512_slli_epi32(_mm512_and_si512(u, _mm512_set1_epi32(0x8000)), 16);
  const __m512i frac = _mm512_slli_epi32(_mm512_and_si512(u, _mm512_set1_epi32(0x3ff)), 13);
  const __m512i bits = _mm512_or_si512(_mm512_or_si512(sign, frac), _mm512_set1_epi32(0x7f800000));
  return _mm512_mask_blend_ps(nan, f, _mm512_castsi512_ps(bits));
}

inline __mmask16 tail_mask(int64_t left) {
  return static_cast<__mmask16>((1u << left) - 1u);
}

}  // namespace

void float_to_bf16(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), bf16_of(_mm512_loadu_ps(src + i)));
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    _mm256_mask_storeu_epi16(dst + i, m, bf16_of(_mm512_maskz_loadu_ps(m, src + i)));
  }
}

void bf16_to_float(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    _mm512_storeu_si512(dst + i, _mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    const __m256i h = _mm256_maskz_loadu_epi16(m, src + i);
    _mm512_mask_storeu_ps(dst + i, m,
                          _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)));
  }
}

void float_to_fp16(const float* src, uint16_t* dst, int64_t n) {
  constexpr int kRne = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i),
                        _mm512_cvtps_ph(_mm512_loadu_ps(src + i), kRne));
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    _mm256_mask_storeu_epi16(dst + i, m, _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, src + i), kRne));
  }
}

void fp16_to_float(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(dst + i,
                     float_of_fp16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i))));
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    _mm512_mask_storeu_ps(dst + i, m, float_of_fp16(_mm256_maskz_loadu_epi16(m, src + i)));
  }
}

}  // namespace duet::convert::avx512
