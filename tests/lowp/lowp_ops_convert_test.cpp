// kernels/cpu/convert.h: the bulk conversions give exactly half.h's scalar bits on every path
// (AVX-512 and plain C++, one thread and the thread pool), for every bfloat16 / float16 bit
// pattern, float32 edge values (zeros, denormals, the rounding ties, the float16 overflow and
// subnormal boundaries, infinities, signalling and quiet NaNs) and random bit patterns; and the
// cast op (kernels/cpu/shape_kernels.cpp) converts every pair of dtypes as the scalar rules do,
// contiguous or strided.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "cpu/convert.h"
#include "duet/duet.h"
#include "duet/simd.h"
#include "test_util.h"

using namespace duet;

namespace {

// The paths the conversions can take on this CPU.
std::vector<simd::Isa> isas() {
  std::vector<simd::Isa> r{simd::Isa::generic};
  if (simd::best_isa() == simd::Isa::avx512) r.push_back(simd::Isa::avx512);
  return r;
}

struct IsaScope {
  explicit IsaScope(simd::Isa isa) { simd::set_kernel_isa(isa); }
  ~IsaScope() { simd::reset_kernel_isa(); }
};

// Float32 values that exercise every branch of half.h's conversions, then random bit patterns
// (n in all: more than one parallel chunk, and not a multiple of 16).
std::vector<float> edge_and_random_floats(size_t n) {
  std::vector<uint32_t> bits = {
      0x00000000u, 0x80000000u, 0x00000001u, 0x807fffffu, 0x00400000u,  // zeros, denormals
      0x3f800000u, 0x3f808000u, 0x3f818000u, 0x3f80ffffu, 0x3f807fffu,  // bf16 ties / halves
      0x3f801000u, 0x3f803000u, 0x3f800fffu, 0x3f801001u,               // fp16 ties
      0x477fe000u, 0x477fefffu, 0x477ff000u, 0x47800000u, 0xc77ff000u,  // fp16 max / overflow
      0x38800000u, 0x387fffffu, 0x33000000u, 0x33000001u, 0x32ffffffu,  // fp16 subnormal edge
      0x33800000u, 0x33c00000u, 0x34200000u, 0x34400000u, 0x35a00000u,  // subnormal ties
      0x7f7fffffu, 0xff7fffffu, 0x7f7f8000u,                            // float max: bf16 inf
      0x7f800000u, 0xff800000u,                                         // infinities
      0x7f800001u, 0xff800001u, 0x7fa00000u, 0x7fc00000u, 0xffc00001u, 0x7fffffffu};  // NaNs
  std::mt19937 gen(1234);
  while (bits.size() < n) bits.push_back(static_cast<uint32_t>(gen()));
  std::vector<float> r(bits.size());
  for (size_t i = 0; i < bits.size(); ++i) r[i] = std::bit_cast<float>(bits[i]);
  return r;
}

std::vector<uint16_t> all_16_bit_patterns() {
  std::vector<uint16_t> r(65536);
  for (size_t i = 0; i < r.size(); ++i) r[i] = static_cast<uint16_t>(i);
  return r;
}

}  // namespace

TEST(LowpConvert, FloatToHalvesMatchesScalarBits) {
  // Past kParallelElements: the thread pool splits it.
  const std::vector<float> x = edge_and_random_floats(3 * convert::kParallelElements + 37);
  const int64_t n = static_cast<int64_t>(x.size());
  for (simd::Isa isa : isas()) {
    SCOPED_TRACE(simd::isa_name(isa));
    IsaScope scope(isa);
    for (int64_t len : {n, int64_t{1000}, int64_t{15}, int64_t{0}}) {
      std::vector<BFloat16> b(static_cast<size_t>(n));
      std::vector<Float16> h(static_cast<size_t>(n));
      convert::float_to_bf16(x.data(), b.data(), len);
      convert::float_to_fp16(x.data(), h.data(), len);
      for (int64_t i = 0; i < len; ++i) {
        ASSERT_EQ(b[i].bits, BFloat16(x[i]).bits)
            << "bfloat16 of bits 0x" << std::hex << std::bit_cast<uint32_t>(x[i]);
        ASSERT_EQ(h[i].bits, Float16(x[i]).bits)
            << "float16 of bits 0x" << std::hex << std::bit_cast<uint32_t>(x[i]);
      }
    }
  }
}

TEST(LowpConvert, HalvesToFloatMatchesScalarBitsForEveryPattern) {
  const std::vector<uint16_t> p = all_16_bit_patterns();
  std::vector<BFloat16> b(p.size());
  std::vector<Float16> h(p.size());
  for (size_t i = 0; i < p.size(); ++i) {
    b[i] = BFloat16::from_bits(p[i]);
    h[i] = Float16::from_bits(p[i]);
  }
  for (simd::Isa isa : isas()) {
    SCOPED_TRACE(simd::isa_name(isa));
    IsaScope scope(isa);
    std::vector<float> fb(p.size()), fh(p.size());
    convert::bf16_to_float(b.data(), fb.data(), static_cast<int64_t>(p.size()));
    convert::fp16_to_float(h.data(), fh.data(), static_cast<int64_t>(p.size()));
    for (size_t i = 0; i < p.size(); ++i) {
      ASSERT_EQ(std::bit_cast<uint32_t>(fb[i]), std::bit_cast<uint32_t>(static_cast<float>(b[i])))
          << "bfloat16 0x" << std::hex << p[i];
      ASSERT_EQ(std::bit_cast<uint32_t>(fh[i]), std::bit_cast<uint32_t>(static_cast<float>(h[i])))
          << "float16 0x" << std::hex << p[i];
    }
  }
}

// The scalar facts the bulk paths inherit: RNE ties, denormals rounded (not flushed), float16
// overflow and subnormals, NaN stays NaN.
TEST(LowpConvert, ScalarRulesOnEdges) {
  EXPECT_EQ(BFloat16(std::bit_cast<float>(0x3f808000u)).bits, 0x3f80u);  // tie to even (down)
  EXPECT_EQ(BFloat16(std::bit_cast<float>(0x3f818000u)).bits, 0x3f82u);  // tie to even (up)
  EXPECT_EQ(BFloat16(std::bit_cast<float>(0x00400000u)).bits, 0x0040u);  // denormal kept
  EXPECT_EQ(Float16(65520.0f).bits, 0x7c00u);                            // overflow: infinity
  EXPECT_EQ(Float16(65519.0f).bits, 0x7bffu);                            // 65504
  EXPECT_EQ(Float16(std::ldexp(1.0f, -24)).bits, 0x0001u);               // smallest subnormal
  EXPECT_EQ(Float16(std::ldexp(1.0f, -25)).bits, 0x0000u);               // tie to even: 0
  EXPECT_TRUE(std::isnan(static_cast<float>(BFloat16(std::bit_cast<float>(0x7f800001u)))));
  EXPECT_TRUE(std::isnan(static_cast<float>(Float16(std::bit_cast<float>(0x7f800001u)))));
}

TEST(LowpConvert, ConvertAnyPairThroughFloat32) {
  const std::vector<double> v = {0.0,     -0.0, 1.0, -2.5, 3.14159, 1e6, -1e6, 65504.0,
                                 70000.0, 1e-7, 0.5, -0.5, 1.5,     2.5, 1e30, -1e30};
  const int64_t n = static_cast<int64_t>(v.size());
  std::vector<int64_t> ints;
  std::vector<char> bools;
  for (double d : v) ints.push_back(static_cast<int64_t>(d > 1e18 || d < -1e18 ? 0 : d));
  for (double d : v) bools.push_back(d != 0);
  for (simd::Isa isa : isas()) {
    SCOPED_TRACE(simd::isa_name(isa));
    IsaScope scope(isa);
    std::vector<BFloat16> b(v.size());
    std::vector<Float16> h(v.size());
    ASSERT_TRUE(convert::convert(v.data(), float64, b.data(), bfloat16, n));
    ASSERT_TRUE(convert::convert(v.data(), float64, h.data(), float16, n));
    for (size_t i = 0; i < v.size(); ++i) {
      EXPECT_EQ(b[i].bits, BFloat16(v[i]).bits) << v[i];
      EXPECT_EQ(h[i].bits, Float16(v[i]).bits) << v[i];
    }
    // bfloat16 -> float16 and back, through float32.
    std::vector<Float16> bh(v.size());
    ASSERT_TRUE(convert::convert(b.data(), bfloat16, bh.data(), float16, n));
    for (size_t i = 0; i < v.size(); ++i)
      EXPECT_EQ(bh[i].bits, Float16(static_cast<float>(b[i])).bits) << v[i];
    // To int64: truncated toward zero, saturated; to bool: != 0.
    std::vector<int64_t> bi(v.size());
    std::vector<char> bb(v.size());
    ASSERT_TRUE(convert::convert(b.data(), bfloat16, bi.data(), int64, n));
    ASSERT_TRUE(convert::convert(b.data(), bfloat16, bb.data(), bool_, n));
    for (size_t i = 0; i < v.size(); ++i) {
      const float f = b[i];
      const int64_t expect = f >= 9.2233720e18f    ? std::numeric_limits<int64_t>::max()
                             : f <= -9.2233720e18f ? std::numeric_limits<int64_t>::min()
                                                   : static_cast<int64_t>(f);
      EXPECT_EQ(bi[i], expect) << f;
      EXPECT_EQ(bb[i] != 0, f != 0) << f;
    }
    // int64 and bool -> float16.
    ASSERT_TRUE(convert::convert(ints.data(), int64, h.data(), float16, n));
    for (size_t i = 0; i < v.size(); ++i)
      EXPECT_EQ(h[i].bits, Float16(static_cast<float>(ints[i])).bits) << ints[i];
    ASSERT_TRUE(convert::convert(bools.data(), bool_, b.data(), bfloat16, n));
    for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(static_cast<float>(b[i]), bools[i] ? 1 : 0);
  }
  // No low-precision side: not this function's job.
  std::vector<double> d(v.size());
  EXPECT_FALSE(convert::convert(ints.data(), int64, d.data(), float64, n));
}

// The cast op for every pair of dtypes, contiguous and strided (a transposed input), against
// the element-by-element scalar conversion through float64 values.
TEST(LowpConvert, CastOpEveryDtypePair) {
  const DType all[] = {float32, float64, int64, bool_, float16, bfloat16};
  const std::vector<double> v = {0.0, 1.0, -2.0, 3.0, 0.5, -7.0, 100.0, -0.25, 1.1, 2.9, -3.7, 6.0};
  const Tensor base = Tensor::from_vector(v, {3, 4}, float64);
  for (simd::Isa isa : isas()) {
    IsaScope scope(isa);
    for (DType from : all)
      for (DType to : all)
        for (bool strided : {false, true}) {
          SCOPED_TRACE(std::string(dtype_name(from)) + " -> " + dtype_name(to) +
                       (strided ? " strided" : "") + " " + simd::isa_name(isa));
          Tensor x = base.to(from);
          if (strided) x = permute(x, {1, 0});
          const Tensor y = cast(x, to);
          ASSERT_EQ(y.dtype(), to);
          ASSERT_EQ(y.shape(), x.shape());
          // Reference: each element read as float64 (exact for every source dtype here), then
          // converted to `to` by the scalar rules, read back as float64.
          const std::vector<double> xs = x.contiguous().to_vector<double>();
          const std::vector<double> ys = y.to_vector<double>();
          for (size_t i = 0; i < xs.size(); ++i) {
            double e = xs[i];
            switch (to) {
              case DType::float32:
                e = static_cast<float>(e);
                break;
              case DType::int64:
                e = std::trunc(e);
                break;
              case DType::bool_:
                e = e != 0;
                break;
              case DType::float16:
                e = static_cast<float>(Float16(e));
                break;
              case DType::bfloat16:
                e = static_cast<float>(BFloat16(e));
                break;
              default:
                break;
            }
            EXPECT_EQ(ys[i], e) << "element " << i << " from " << xs[i];
          }
        }
  }
}
