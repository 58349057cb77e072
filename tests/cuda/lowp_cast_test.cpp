// The CUDA cast kernel for float16 and bfloat16 against the CPU's, bit for bit (label cuda;
// skipped without a device): every one of the 65536 patterns of each 16-bit type to float32,
// float32 patterns around every rounding boundary (ties, NaN payloads, infinities, float16
// subnormals and overflow) to each 16-bit type, and the other dtype pairs (float64, int64,
// bool, float16 <-> bfloat16). Also the strided copies of 2-byte elements (contiguous() of a
// transposed view, copy_ into a strided view, a broadcast expand).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "cuda_test_util.h"

using namespace duet;

namespace {

// A CPU tensor of `dtype` holding the given raw element bytes (copied).
template <class E>
Tensor from_bits(const std::vector<E>& bits, DType dtype) {
  EXPECT_EQ(sizeof(E), dtype_size(dtype));
  auto* buf = new E[bits.size()];
  std::memcpy(buf, bits.data(), bits.size() * sizeof(E));
  return Tensor::from_blob(buf, {static_cast<int64_t>(bits.size())}, dtype,
                           [](void* p) { delete[] static_cast<E*>(p); });
}

// The raw element bytes of any tensor (copied to the host, made contiguous).
template <class E>
std::vector<E> bits_of(const Tensor& t) {
  const Tensor c = t.to(cpu).contiguous();
  EXPECT_EQ(sizeof(E), dtype_size(c.dtype()));
  std::vector<E> v(static_cast<size_t>(c.numel()));
  if (!v.empty()) std::memcpy(v.data(), c.data_ptr(), v.size() * sizeof(E));
  return v;
}

std::vector<uint16_t> all_16bit_patterns() {
  std::vector<uint16_t> v(65536);
  for (uint32_t i = 0; i < 65536; ++i) v[i] = static_cast<uint16_t>(i);
  return v;
}

// float32 patterns: every upper half with lower halves at and around the bfloat16 tie
// (0x8000) and the float16 tie of a normal (bit 12: 0x1000), plus 0, 1 and all ones. The upper
// halves cover every exponent (float16 subnormals and overflow, infinities, NaNs with payload).
std::vector<uint32_t> float32_patterns() {
  const uint32_t lows[] = {0x0000, 0x0001, 0x0fff, 0x1000, 0x1001, 0x3000,
                           0x7fff, 0x8000, 0x8001, 0xf000, 0xffff};
  std::vector<uint32_t> v;
  v.reserve(65536 * std::size(lows));
  for (uint32_t hi = 0; hi < 65536; ++hi)
    for (uint32_t lo : lows) v.push_back((hi << 16) | lo);
  return v;
}

// Index and values of the first difference, for the failure message.
template <class E>
::testing::AssertionResult same_elements(const std::vector<E>& gpu, const std::vector<E>& cpu_) {
  if (gpu.size() != cpu_.size())
    return ::testing::AssertionFailure() << "sizes " << gpu.size() << " vs " << cpu_.size();
  for (size_t i = 0; i < gpu.size(); ++i)
    if (std::memcmp(&gpu[i], &cpu_[i], sizeof(E)) != 0)
      return ::testing::AssertionFailure()
             << "element " << i << ": GPU bits 0x" << std::hex << static_cast<uint64_t>(gpu[i])
             << " vs CPU 0x" << static_cast<uint64_t>(cpu_[i]);
  return ::testing::AssertionSuccess();
}

// src (CPU) cast to `to` on the GPU and on the CPU: the same bytes.
template <class E>
::testing::AssertionResult cast_matches(const Tensor& src, DType to) {
  const std::vector<E> gpu = bits_of<E>(src.to(cuda).to(to));
  const std::vector<E> host = bits_of<E>(src.to(to));
  return same_elements(gpu, host);
}

}  // namespace

TEST(CudaLowpCast, EveryBFloat16PatternToFloat32) {
  DUET_REQUIRE_CUDA();
  const Tensor x = from_bits(all_16bit_patterns(), bfloat16);
  EXPECT_TRUE(cast_matches<uint32_t>(x, float32));
  // Exact: bfloat16 is float32's upper half.
  const std::vector<uint32_t> f = bits_of<uint32_t>(x.to(cuda).to(float32));
  for (uint32_t i = 0; i < 65536; ++i) ASSERT_EQ(f[i], i << 16) << "pattern " << i;
}

TEST(CudaLowpCast, EveryFloat16PatternToFloat32) {
  DUET_REQUIRE_CUDA();
  const Tensor x = from_bits(all_16bit_patterns(), float16);
  EXPECT_TRUE(cast_matches<uint32_t>(x, float32));
  // Spot values: 1.0, the largest normal, the smallest subnormal, -inf.
  const std::vector<float> f = x.to(cuda).to(float32).to(cpu).to_vector<float>();
  EXPECT_EQ(f[0x3c00], 1.0f);
  EXPECT_EQ(f[0x7bff], 65504.0f);
  EXPECT_EQ(f[0x0001], std::ldexp(1.0f, -24));
  EXPECT_EQ(f[0xfc00], -std::numeric_limits<float>::infinity());
}

TEST(CudaLowpCast, Float32ToBFloat16RoundsAsTheCpu) {
  DUET_REQUIRE_CUDA();
  const Tensor x = from_bits(float32_patterns(), float32);
  EXPECT_TRUE(cast_matches<uint16_t>(x, bfloat16));
  // Ties to even: 1 + 2^-8 (half way between 1 and 1 + 2^-7) -> 1; 1 + 3 * 2^-8 -> 1 + 2^-6.
  const Tensor t = Tensor::from_vector(std::vector<float>{1.00390625f, 1.01171875f}, {2});
  const std::vector<uint16_t> b = bits_of<uint16_t>(t.to(cuda).to(bfloat16));
  EXPECT_EQ(b[0], 0x3f80);
  EXPECT_EQ(b[1], 0x3f82);
}

TEST(CudaLowpCast, Float32ToFloat16RoundsAsTheCpu) {
  DUET_REQUIRE_CUDA();
  const Tensor x = from_bits(float32_patterns(), float32);
  EXPECT_TRUE(cast_matches<uint16_t>(x, float16));
  // 65519 rounds to the largest normal, 65520 overflows; 2^-25 ties to 0, 3 * 2^-26 -> 2^-24.
  const Tensor t = Tensor::from_vector(
      std::vector<float>{65519.0f, 65520.0f, std::ldexp(1.0f, -25), 3 * std::ldexp(1.0f, -26)},
      {4});
  const std::vector<uint16_t> h = bits_of<uint16_t>(t.to(cuda).to(float16));
  EXPECT_EQ(h[0], 0x7bff);
  EXPECT_EQ(h[1], 0x7c00);
  EXPECT_EQ(h[2], 0x0000);
  EXPECT_EQ(h[3], 0x0001);
}

// Between the two 16-bit types (through float32), and to float64 (exact), every pattern.
TEST(CudaLowpCast, BetweenTheSixteenBitTypesAndToFloat64) {
  DUET_REQUIRE_CUDA();
  for (DType from : {bfloat16, float16}) {
    SCOPED_TRACE(dtype_name(from));
    const Tensor x = from_bits(all_16bit_patterns(), from);
    EXPECT_TRUE(cast_matches<uint16_t>(x, from == bfloat16 ? float16 : bfloat16));
    EXPECT_TRUE(cast_matches<uint64_t>(x, float64));
  }
}

// float64, int64 and bool to each 16-bit type, and back from finite values (int64: inside its
// range; the CPU saturates, so does the GPU, but only the rounding is this test's business).
TEST(CudaLowpCast, OtherDtypesBothWays) {
  DUET_REQUIRE_CUDA();
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> d = {0.0,     -0.0,    1.0, -1.5,       1e-8,        -3e-6, 65504.0,
                           65519.9, 65520.0, 1e5, 3.0e38,     3.5e38,      1e300, -1e-300,
                           inf,     -inf,    0.1, 1.00390625, 1.0 + 1e-12, 257.0, 4097.0};
  Generator gen(5);
  for (int i = 0; i < 2000; ++i) d.push_back(gen.normal() * std::ldexp(1.0, i % 40 - 20));
  std::vector<int64_t> ints;
  for (int64_t v = -70000; v <= 70000; v += 37) ints.push_back(v);
  for (int64_t v : {int64_t{16777217}, int64_t{1} << 40, -(int64_t{1} << 50) - 1})
    ints.push_back(v);
  const Tensor td = Tensor::from_vector(d, {static_cast<int64_t>(d.size())}, float64);
  const Tensor ti = Tensor::from_vector(ints, {static_cast<int64_t>(ints.size())}, int64);
  const Tensor tb = Tensor::from_vector(std::vector<double>{0, 1, 1, 0}, {4}, bool_);
  for (DType low : {bfloat16, float16}) {
    SCOPED_TRACE(dtype_name(low));
    EXPECT_TRUE(cast_matches<uint16_t>(td, low));
    EXPECT_TRUE(cast_matches<uint16_t>(ti, low));
    EXPECT_TRUE(cast_matches<uint16_t>(tb, low));
    // Back: low values of the finite doubles (clamped into int64's range first on the host).
    std::vector<double> finite;
    for (double v : d)
      if (std::isfinite(v) && std::abs(v) < 1e15) finite.push_back(v);
    const Tensor l =
        Tensor::from_vector(finite, {static_cast<int64_t>(finite.size())}, float64).to(low);
    EXPECT_TRUE(cast_matches<int64_t>(l, int64));
    EXPECT_TRUE(cast_matches<uint8_t>(l, bool_));
  }
}

// 2-byte strided copies: contiguous() of a transposed view, a broadcast (expand), and copy_
// into a strided view, all bit-identical to the CPU.
TEST(CudaLowpCast, StridedCopiesOfTwoByteElements) {
  DUET_REQUIRE_CUDA();
  Generator gen(9);
  for (DType low : {bfloat16, float16}) {
    SCOPED_TRACE(dtype_name(low));
    const Tensor a = Tensor::randn({5, 7, 3}, gen).to(low);
    const Tensor ag = a.to(cuda);
    const Tensor tr = ag.transpose(0, 2).contiguous();
    EXPECT_TRUE(same_elements(bits_of<uint16_t>(tr), bits_of<uint16_t>(a.transpose(0, 2))));
    const Tensor row = Tensor::randn({1, 7}, gen).to(low);
    EXPECT_TRUE(same_elements(bits_of<uint16_t>(row.to(cuda).expand({4, 7})),
                              bits_of<uint16_t>(row.expand({4, 7}))));
    // copy_ from float32 into every other column of a bfloat16 / float16 buffer.
    const Tensor src = Tensor::randn({6, 4}, gen);
    Tensor dst_gpu = Tensor::zeros({6, 8}, low, cuda);
    Tensor dst_cpu = Tensor::zeros({6, 8}, low);
    dst_gpu.slice(1, 0, 8, 2).copy_(src.to(cuda));
    dst_cpu.slice(1, 0, 8, 2).copy_(src);
    EXPECT_TRUE(same_elements(bits_of<uint16_t>(dst_gpu), bits_of<uint16_t>(dst_cpu)));
    // fill_ with a value that rounds.
    Tensor f_gpu = Tensor::full({3, 3}, 1.00390625, low, cuda);
    Tensor f_cpu = Tensor::full({3, 3}, 1.00390625, low);
    EXPECT_TRUE(same_elements(bits_of<uint16_t>(f_gpu), bits_of<uint16_t>(f_cpu)));
  }
}
