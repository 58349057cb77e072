// The fused activations of the blocked-layout kernels on one zmm of 16 floats, for the AVX-512
// translation units only (nchwc_*_avx512.cpp, compiled with AVX-512 flags): the epilogue applies
// them in registers instead of a second pass over the stored tile (nchwc::apply_activation).
//
//   const int code = nchwc::avx512_act_code(e);  // in the generic file: -1 = not in registers
//   v = act_avx512(v, code);                     // in the AVX-512 file, per output vector
//
// Everything here has internal linkage (an unnamed namespace), so no AVX-512 copy of a function
// can stand in for a generic one at link time (kernels/cpu/nchwc_common.h). Accuracy: relu,
// relu6 exact (NaN kept, as the activation kernels' formulas); sigmoid and silu within 4e-7
// relative of the formulas (Cephes' expf reduction, 2^n by scalef, a Newton-refined reciprocal);
// hardswish multiplies by 1/6 where the formula divides by 6 (at most 1 ulp apart).
#pragma once

#include <immintrin.h>

#include "cpu/nchwc_dw_stem_avx512.h"  // the activation codes

namespace duet::cpu_kernels::nchwc {
namespace {

// exp(-x), x clamped to [-88.376, 104] first (beyond: about FLT_MAX and 0); NaN stays NaN.
// Cephes' expf reduction (n = round(-x log2 e), r = -x - n ln 2 in two parts), its polynomial
// for (e^r - 1 - r) / r^2 without the r^4 term's successor (|r| <= ln 2 / 2: < 1.5e-7
// relative), 2^n by scalef.
inline __m512 exp_neg_avx512(__m512 x) {
  // min / max return their second operand when either is NaN: the constant goes first.
  x = _mm512_max_ps(_mm512_set1_ps(-88.3762626647949f), x);
  x = _mm512_min_ps(_mm512_set1_ps(104.f), x);
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(-1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmsub_ps(n, _mm512_set1_ps(0.693359375f), x);  // -x - n ln2, in two parts
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.3981999507e-3f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.f)));
  return _mm512_scalef_ps(p, n);  // p 2^n
}

// 1 / (1 + exp(-x)).
inline __m512 sigmoid_avx512(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.f);
  const __m512 d = _mm512_add_ps(one, exp_neg_avx512(x));
  const __m512 r = _mm512_rcp14_ps(d);  // 14 bits, then one Newton step
  return _mm512_fmadd_ps(_mm512_fnmadd_ps(d, r, one), r, r);
}

// The activation `code` of v for code none, relu or relu6 (the others: v).
inline __m512 act_avx512_minmax(__m512 v, int code) {
  if (code >= kActRelu) v = _mm512_max_ps(_mm512_setzero_ps(), v);
  if (code == kActRelu6) v = _mm512_min_ps(_mm512_set1_ps(6.f), v);
  return v;
}

// The activation `code` of v.
inline __m512 act_avx512(__m512 v, int code) {
  switch (code) {
    case kActRelu:
      return _mm512_max_ps(_mm512_setzero_ps(), v);
    case kActRelu6:
      return _mm512_min_ps(_mm512_set1_ps(6.f), _mm512_max_ps(_mm512_setzero_ps(), v));
    case kActSigmoid:
      return sigmoid_avx512(v);
    case kActSilu:
      return _mm512_mul_ps(v, sigmoid_avx512(v));
    case kActHardswish: {
      __m512 t = _mm512_max_ps(_mm512_setzero_ps(), _mm512_add_ps(v, _mm512_set1_ps(3.f)));
      t = _mm512_min_ps(_mm512_set1_ps(6.f), t);
      return _mm512_mul_ps(_mm512_mul_ps(v, t), _mm512_set1_ps(1.f / 6.f));
    }
    default:
      return v;
  }
}

// y[i] = act(v[i] + res[i]) for n consecutive output pixels (one zmm each; res null: none): the
// store of the depthwise and stem kernels' register tiles. finish<true> inlines the max/min
// activations (none, relu, relu6) into each tile; the longer formulas (sigmoid, silu, hardswish)
// share one out-of-line loop, finish_formula.
template <bool kInline>
inline void finish(const __m512* v, int n, const float* res, float* y, int act) {
#pragma GCC unroll 16
  for (int i = 0; i < n; ++i) {
    __m512 t = v[i];
    if (res) t = _mm512_add_ps(t, _mm512_loadu_ps(res + i * 16));
    t = kInline ? act_avx512_minmax(t, act) : act_avx512(t, act);
    _mm512_storeu_ps(y + i * 16, t);
  }
}
[[maybe_unused]] __attribute__((noinline)) void finish_formula(const __m512* v, int n,
                                                               const float* res, float* y,
                                                               int act) {
  finish<false>(v, n, res, y, act);
}

}  // namespace
}  // namespace duet::cpu_kernels::nchwc
