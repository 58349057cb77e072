// The 16-bit floating-point element types: BFloat16 (bfloat16: float32's 8-bit exponent, 7
// fraction bits) and Float16 (IEEE 754 binary16: 5-bit exponent, 10 fraction bits).
//
//   duet::BFloat16 b = 1.1f;                      // rounds to nearest even: 1.1015625
//   float f = b;                                  // exact
//   duet::Tensor t = duet::Tensor::from_vector(std::vector<float>{1.1f, 2}, {2})
//                        .to(duet::bfloat16);     // a bfloat16 tensor (docs/mixed_precision.md)
//
// Conversions from float round to nearest, ties to even (RNE), as PyTorch, oneDNN and the
// CUDA intrinsics do; NaN stays NaN (quiet), infinities stay infinite, float16 overflows to
// infinity and keeps subnormals. Conversions to float are exact. Arithmetic on these types
// goes through float (the operators below), so a kernel's formula reads the same for any
// floating T. Bulk conversions (many elements, AVX-512) live in kernels/cpu/convert.h and give
// the same bits as these scalar ones.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

namespace duet {

namespace half_detail {

// float -> bfloat16 bits, round to nearest even; NaN -> a quiet NaN of the same sign.
constexpr uint16_t float_to_bf16_bits(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);
  const uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>((u + rounding) >> 16);
}
constexpr float bf16_bits_to_float(uint16_t b) {
  return std::bit_cast<float>(static_cast<uint32_t>(b) << 16);
}

// float -> float16 bits, round to nearest even (subnormals kept, overflow -> infinity).
constexpr uint16_t float_to_fp16_bits(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));  // NaN
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520: infinity
  if (a < 0x38800000u) {  // below 2^-14: a float16 subnormal (or zero)
    if (a < 0x33000000u) return sign;  // below half the smallest subnormal 2^-25: +-0
    // Value = mantissa * 2^(exp - 150); float16 subnormal units are 2^-24.
    const uint32_t exp = a >> 23;
    const uint32_t mant = (a & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126u - exp;  // 14..24 for exp in 102..112
    const uint32_t q = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1u);
    const uint32_t halfway = 1u << (shift - 1u);
    const uint32_t r = q + ((rem > halfway || (rem == halfway && (q & 1u))) ? 1u : 0u);
    return static_cast<uint16_t>(sign | r);
  }
  // Normal: rebias the exponent (127 -> 15), round the 13 dropped bits to nearest even.
  const uint32_t rounded = a + 0xfffu + ((a >> 13) & 1u);
  return static_cast<uint16_t>(sign | ((rounded - 0x38000000u) >> 13));
}
constexpr float fp16_bits_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0x1fu) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));  // inf/NaN
  if (exp != 0) return std::bit_cast<float>(sign | ((exp + 112u) << 23) | (mant << 13));
  if (mant == 0) return std::bit_cast<float>(sign);
  // Subnormal: mant * 2^-24, exact in float.
  const float v = static_cast<float>(mant) * (1.0f / 16777216.0f);
  return sign ? -v : v;
}

}  // namespace half_detail

// bfloat16: storage is the upper 16 bits of a float32.
struct BFloat16 {
  uint16_t bits = 0;
  constexpr BFloat16() = default;
  constexpr BFloat16(float f) : bits(half_detail::float_to_bf16_bits(f)) {}  // NOLINT: implicit
  constexpr BFloat16(double d) : BFloat16(static_cast<float>(d)) {}         // NOLINT
  static constexpr BFloat16 from_bits(uint16_t b) {
    BFloat16 x;
    x.bits = b;
    return x;
  }
  constexpr operator float() const { return half_detail::bf16_bits_to_float(bits); }  // NOLINT
};

// float16 (IEEE binary16).
struct Float16 {
  uint16_t bits = 0;
  constexpr Float16() = default;
  constexpr Float16(float f) : bits(half_detail::float_to_fp16_bits(f)) {}  // NOLINT: implicit
  constexpr Float16(double d) : Float16(static_cast<float>(d)) {}         // NOLINT
  static constexpr Float16 from_bits(uint16_t b) {
    Float16 x;
    x.bits = b;
    return x;
  }
  constexpr operator float() const { return half_detail::fp16_bits_to_float(bits); }  // NOLINT
};

static_assert(sizeof(BFloat16) == 2 && sizeof(Float16) == 2);

}  // namespace duet
