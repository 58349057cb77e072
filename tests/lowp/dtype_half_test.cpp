// duet/half.h: BFloat16 and Float16 scalar conversions, bit for bit.
//   - every one of the 65536 bit patterns of each type converts to float and back to the same
//     bits (a NaN stays a NaN of the same sign; a quiet one keeps its bits);
//   - float -> Float16 against g++'s _Float16 conversion (IEEE 754 round to nearest even);
//   - float -> BFloat16 against a double-based nearest-even reference written here;
//   on every float of several exponent ranges' edges (subnormals, halfway ties, overflow)
//   plus millions of random bit patterns.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "duet/half.h"

using namespace duet;

namespace {

uint16_t fp16_reference(float f) {
  const _Float16 h = static_cast<_Float16>(f);
  uint16_t bits;
  std::memcpy(&bits, &h, 2);
  return bits;
}

float fp16_reference_to_float(uint16_t bits) {
  _Float16 h;
  std::memcpy(&h, &bits, 2);
  return static_cast<float>(h);
}

// The value of bfloat16 bits b (b's exponent field not all ones), computed in double from the
// fields: (-1)^s * 2^(e - 127) * (1 + m / 128), or 2^-126 * m / 128 for e = 0.
double bf16_value(uint32_t b) {
  const uint32_t e = (b >> 7) & 0xffu, m = b & 0x7fu;
  const double mag = e == 0 ? std::ldexp(static_cast<double>(m), -133)
                            : std::ldexp(1.0 + m / 128.0, static_cast<int>(e) - 127);
  return (b & 0x8000u) ? -mag : mag;
}

// float -> bfloat16 bits: the nearer of the two bfloat16 values around |f| (compared in
// double, exactly), ties to the even one; past the largest finite value the upper neighbour
// is 2^128 (bits 0x7f80: infinity). NaN: any NaN bits of the same sign.
uint16_t bf16_reference(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const uint32_t a = u & 0x7fffffffu;
  if (a == 0x7f800000u) return static_cast<uint16_t>(sign | 0x7f80u);
  const uint32_t lo = a >> 16;  // truncation toward zero
  const double d = std::fabs(static_cast<double>(f));
  const double vlo = bf16_value(lo);
  const uint32_t e = (lo >> 7) & 0xffu;
  const double ulp = std::ldexp(1.0, (e == 0 ? 1 : static_cast<int>(e)) - 127 - 7);
  const double vhi = vlo + ulp;
  uint32_t r;
  if (d - vlo < vhi - d)
    r = lo;
  else if (d - vlo > vhi - d)
    r = lo + 1;
  else
    r = (lo & 1u) ? lo + 1 : lo;
  return static_cast<uint16_t>(sign | r);
}

bool fp16_is_nan(uint16_t b) {
  return (b & 0x7c00u) == 0x7c00u && (b & 0x3ffu) != 0;
}
bool bf16_is_nan(uint16_t b) {
  return (b & 0x7f80u) == 0x7f80u && (b & 0x7fu) != 0;
}

// Checks one float against both references; returns false (after one gtest failure) on the
// first mismatch so a broken conversion does not print millions of lines.
bool check_float(float f) {
  const uint16_t h = Float16(f).bits, h_ref = fp16_reference(f);
  const uint16_t b = BFloat16(f).bits, b_ref = bf16_reference(f);
  if (std::isnan(f)) {
    EXPECT_TRUE(fp16_is_nan(h)) << std::hex << std::bit_cast<uint32_t>(f) << " -> " << h;
    EXPECT_TRUE(bf16_is_nan(b)) << std::hex << std::bit_cast<uint32_t>(f) << " -> " << b;
    EXPECT_EQ(h & 0x8000u, (std::bit_cast<uint32_t>(f) >> 16) & 0x8000u);
    EXPECT_EQ(b & 0x8000u, (std::bit_cast<uint32_t>(f) >> 16) & 0x8000u);
    return fp16_is_nan(h) && bf16_is_nan(b);
  }
  EXPECT_EQ(h, h_ref) << "Float16(" << f << "), float bits 0x" << std::hex
                      << std::bit_cast<uint32_t>(f);
  EXPECT_EQ(b, b_ref) << "BFloat16(" << f << "), float bits 0x" << std::hex
                      << std::bit_cast<uint32_t>(f);
  return h == h_ref && b == b_ref;
}

}  // namespace

TEST(DtypeHalf, EveryFloat16BitPatternRoundTrips) {
  for (uint32_t i = 0; i < 65536; ++i) {
    const uint16_t bits = static_cast<uint16_t>(i);
    const float f = Float16::from_bits(bits);
    const float ref = fp16_reference_to_float(bits);
    if (fp16_is_nan(bits)) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << i;
      const uint16_t back = Float16(f).bits;
      ASSERT_TRUE(fp16_is_nan(back)) << std::hex << i;
      ASSERT_EQ(back & 0x8000u, bits & 0x8000u) << std::hex << i;
      if (bits & 0x200u) {
        ASSERT_EQ(back, bits) << "quiet NaN 0x" << std::hex << i;
      }
      continue;
    }
    ASSERT_EQ(std::bit_cast<uint32_t>(f), std::bit_cast<uint32_t>(ref)) << std::hex << i;
    ASSERT_EQ(Float16(f).bits, bits) << std::hex << i;
  }
}

TEST(DtypeHalf, EveryBFloat16BitPatternRoundTrips) {
  for (uint32_t i = 0; i < 65536; ++i) {
    const uint16_t bits = static_cast<uint16_t>(i);
    const float f = BFloat16::from_bits(bits);
    if (bf16_is_nan(bits)) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << i;
      const uint16_t back = BFloat16(f).bits;
      ASSERT_TRUE(bf16_is_nan(back)) << std::hex << i;
      ASSERT_EQ(back & 0x8000u, bits & 0x8000u) << std::hex << i;
      if (bits & 0x40u) {
        ASSERT_EQ(back, bits) << "quiet NaN 0x" << std::hex << i;
      }
      continue;
    }
    if ((bits & 0x7f80u) == 0x7f80u) {
      ASSERT_TRUE(std::isinf(f)) << std::hex << i;
    } else {
      ASSERT_EQ(static_cast<double>(f), bf16_value(bits)) << std::hex << i;
    }
    ASSERT_EQ(BFloat16(f).bits, bits) << std::hex << i;
  }
}

TEST(DtypeHalf, KnownValues) {
  // Constant-evaluated: the conversions are constexpr.
  static_assert(BFloat16(1.0f).bits == 0x3f80);
  static_assert(Float16(1.0f).bits == 0x3c00);
  static_assert(static_cast<float>(Float16::from_bits(0x7bff)) == 65504.0f);
  EXPECT_EQ(static_cast<float>(BFloat16(1.1f)), 1.1015625f);  // header's example
  EXPECT_EQ(Float16(65504.0f).bits, 0x7bff);
  EXPECT_EQ(Float16(65519.996f).bits, 0x7bff);  // just below the tie: largest finite
  EXPECT_EQ(Float16(65520.0f).bits, 0x7c00);    // the tie rounds to even: infinity
  EXPECT_EQ(Float16(-65520.0f).bits, 0xfc00);
  EXPECT_EQ(Float16(std::ldexp(1.0f, -24)).bits, 0x0001);  // smallest subnormal
  EXPECT_EQ(Float16(std::ldexp(1.0f, -25)).bits, 0x0000);  // half of it: tie to even (0)
  EXPECT_EQ(Float16(std::ldexp(1.5f, -25)).bits, 0x0001);
  EXPECT_EQ(Float16(std::ldexp(3.0f, -25)).bits, 0x0002);  // 1.5 units: tie to even (2)
  EXPECT_EQ(Float16(-0.0f).bits, 0x8000);
  EXPECT_EQ(BFloat16(-0.0f).bits, 0x8000);
  EXPECT_EQ(BFloat16(std::numeric_limits<float>::max()).bits, 0x7f80);  // rounds up to inf
  EXPECT_EQ(BFloat16(std::numeric_limits<float>::infinity()).bits, 0x7f80);
  EXPECT_EQ(BFloat16(std::numeric_limits<float>::denorm_min()).bits, 0x0000);
  EXPECT_EQ(BFloat16(std::bit_cast<float>(0x3f808000u)).bits, 0x3f80);  // tie, even below
  EXPECT_EQ(BFloat16(std::bit_cast<float>(0x3f818000u)).bits, 0x3f82);  // tie, even above
  EXPECT_EQ(BFloat16(std::bit_cast<float>(0x3f808001u)).bits, 0x3f81);
  // The double constructors round to float first, as c10::Half / c10::BFloat16 (and so
  // PyTorch's float64 -> float16 cast) do.
  const double d = 1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40);  // just above an fp16 tie
  EXPECT_EQ(Float16(d).bits, Float16(static_cast<float>(d)).bits);
  EXPECT_EQ(BFloat16(d).bits, BFloat16(static_cast<float>(d)).bits);
  // Signalling NaN in: a quiet NaN out.
  EXPECT_EQ(Float16(std::bit_cast<float>(0x7f800001u)).bits & 0x7e00u, 0x7e00u);
  EXPECT_EQ(BFloat16(std::bit_cast<float>(0xff800001u)).bits, 0xffc0u);
}

// Every float whose bits lie near the fp16 and bf16 rounding boundaries: for each exponent
// and each of the 2^10 (fp16) kept mantissas, the dropped bits at 0, 1, tie - 1, tie,
// tie + 1 and max, both signs; then all 2^23 floats of the exponents where fp16 subnormals
// and the normal/subnormal and overflow boundaries lie are walked with a stride.
TEST(DtypeHalf, EdgeFloatsMatchTheReferences) {
  for (uint32_t sign = 0; sign < 2; ++sign) {
    for (uint32_t exp = 0; exp < 256; ++exp) {
      for (uint32_t keep = 0; keep < 1024; ++keep) {
        for (uint32_t low : {0u, 1u, 0xfffu, 0x1000u, 0x1001u, 0x1fffu}) {
          const uint32_t u = (sign << 31) | (exp << 23) | (keep << 13) | low;
          if (!check_float(std::bit_cast<float>(u))) return;
        }
        // bf16's dropped bits: 16, the tie at 0x8000.
        for (uint32_t low : {0x7fffu, 0x8000u, 0x8001u, 0xffffu}) {
          const uint32_t u = (sign << 31) | (exp << 23) | ((keep & 0x7fu) << 16) | low;
          if (!check_float(std::bit_cast<float>(u))) return;
        }
      }
    }
  }
  // Exponents 101..113 (fp16 subnormals and the smallest normals) and 141..143 (65504 up to
  // overflow), every 31st float.
  for (uint32_t exp : {101u, 102u, 103u, 104u, 105u, 106u, 107u, 108u, 109u, 110u, 111u, 112u, 113u,
                       141u, 142u, 143u}) {
    for (uint32_t m = 0; m < (1u << 23); m += 31) {
      const uint32_t u = (exp << 23) | m;
      if (!check_float(std::bit_cast<float>(u))) return;
      if (!check_float(std::bit_cast<float>(u | 0x80000000u))) return;
    }
  }
}

TEST(DtypeHalf, RandomFloatsMatchTheReferences) {
  std::mt19937_64 rng(20261204);
  // 8M random bit patterns (every exponent, NaN and inf included) and 4M values of the
  // typical range (normal draws), each converted by both types.
  for (int i = 0; i < (8 << 20); ++i) {
    if (!check_float(std::bit_cast<float>(static_cast<uint32_t>(rng())))) return;
  }
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (int i = 0; i < (4 << 20); ++i) {
    if (!check_float(normal(rng))) return;
  }
}
