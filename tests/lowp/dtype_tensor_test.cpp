// float16 and bfloat16 tensors: factories, element access, casts through the cast op (CPU),
// in-place fills and copies, printing. Values are checked bit for bit against half.h's scalar
// conversions (which dtype_half_test checks against IEEE / a double reference).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <iostream>
#include <limits>
#include <sstream>

#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

// The bits of every element of a float16 / bfloat16 tensor.
std::vector<uint16_t> bits_of(const Tensor& t) {
  std::vector<uint16_t> out;
  if (t.dtype() == float16) {
    for (Float16 h : t.to_vector<Float16>()) out.push_back(h.bits);
  } else {
    for (BFloat16 b : t.to_vector<BFloat16>()) out.push_back(b.bits);
  }
  return out;
}

// The bits half.h's rounding gives each float of `v` in dtype t.
std::vector<uint16_t> rounded_bits(const std::vector<float>& v, DType t) {
  std::vector<uint16_t> out;
  for (float f : v) out.push_back(t == float16 ? Float16(f).bits : BFloat16(f).bits);
  return out;
}

const std::vector<float> kValues = {1.1f,
                                    -2.5f,
                                    0.1f,
                                    65504.0f,
                                    65520.0f,
                                    1e-7f,
                                    3e38f,
                                    -1e-40f,
                                    0.0f,
                                    -0.0f,
                                    1.00390625f,
                                    1.01171875f,
                                    std::numeric_limits<float>::infinity()};

}  // namespace

class DtypeTensor : public ::testing::TestWithParam<DType> {};

TEST_P(DtypeTensor, FromVectorRoundsToNearestEven) {
  const DType t = GetParam();
  const Tensor x = Tensor::from_vector(kValues, {13}, t);
  EXPECT_EQ(x.dtype(), t);
  EXPECT_EQ(dtype_size(x.dtype()), 2u);
  EXPECT_EQ(bits_of(x), rounded_bits(kValues, t));
  // float64 values round to float first (as PyTorch's float64 -> float16 cast does).
  std::vector<double> d(kValues.begin(), kValues.end());
  d.push_back(1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40));
  const Tensor xd = Tensor::from_vector(d, {14}, t);
  std::vector<float> df;
  for (double v : d) df.push_back(static_cast<float>(v));
  EXPECT_EQ(bits_of(xd), rounded_bits(df, t));
  // int64 and bool sources.
  const Tensor xi = Tensor::from_vector(std::vector<int64_t>{0, 3, -7, 257, 65519, 70000}, {6}, t);
  EXPECT_EQ(bits_of(xi), rounded_bits({0, 3, -7, 257, 65519, 70000}, t));
  const Tensor xb = Tensor::from_vector(std::vector<bool>{true, false}, {2}, t);
  EXPECT_EQ(bits_of(xb), rounded_bits({1, 0}, t));
}

TEST_P(DtypeTensor, NativeVectorsKeepTheirBits) {
  const DType t = GetParam();
  if (t == float16) {
    std::vector<Float16> v = {Float16::from_bits(0x7bff), Float16::from_bits(0x0001),
                              Float16::from_bits(0x7e01), Float16::from_bits(0x8000)};
    const Tensor x = Tensor::from_vector(v, {2, 2});
    EXPECT_EQ(x.dtype(), float16);
    EXPECT_EQ(bits_of(x), (std::vector<uint16_t>{0x7bff, 0x0001, 0x7e01, 0x8000}));
    EXPECT_EQ(x.data<Float16>()[0].bits, 0x7bff);
  } else {
    std::vector<BFloat16> v = {BFloat16::from_bits(0x7f7f), BFloat16::from_bits(0x0001),
                               BFloat16::from_bits(0x7fc1), BFloat16::from_bits(0x8000)};
    const Tensor x = Tensor::from_vector(v, {2, 2});
    EXPECT_EQ(x.dtype(), bfloat16);
    EXPECT_EQ(bits_of(x), (std::vector<uint16_t>{0x7f7f, 0x0001, 0x7fc1, 0x8000}));
    EXPECT_EQ(x.data<BFloat16>()[0].bits, 0x7f7f);
  }
  EXPECT_DUET_ERROR(Tensor::zeros({2}, t).data<float>(), "data",
                    t == float16 ? "float16" : "bfloat16", "float32 was requested");
}

TEST_P(DtypeTensor, AccessorsWidenExactly) {
  const DType t = GetParam();
  const Tensor x = Tensor::from_vector(kValues, {13}, t);
  const std::vector<float> f = x.to_vector<float>();
  const std::vector<double> d = x.to_vector<double>();
  for (size_t i = 0; i < kValues.size(); ++i) {
    const float expected = t == float16 ? static_cast<float>(Float16(kValues[i]))
                                        : static_cast<float>(BFloat16(kValues[i]));
    EXPECT_EQ(std::bit_cast<uint32_t>(f[i]), std::bit_cast<uint32_t>(expected)) << i;
    EXPECT_EQ(d[i], static_cast<double>(expected)) << i;
  }
  // int64 saturates (inf -> max), NaN -> 0; bool: nonzero.
  const Tensor y = Tensor::from_vector({-2.75, 0.0, 3.5, INFINITY, NAN}, {5}, t);
  EXPECT_EQ(y.to_vector<int64_t>(),
            (std::vector<int64_t>{-2, 0, 3, std::numeric_limits<int64_t>::max(), 0}));
  EXPECT_EQ(y.to_vector<bool>(), (std::vector<bool>{true, false, true, true, true}));
  EXPECT_EQ(Tensor::scalar(1.1, t).item<float>(),
            t == float16 ? static_cast<float>(Float16(1.1f)) : 1.1015625f);
  EXPECT_EQ(Tensor::scalar(-0.5, t).item(), -0.5);
  EXPECT_EQ(Tensor::scalar(-0.5, t).item<BFloat16>().bits, BFloat16(-0.5f).bits);
  EXPECT_EQ(Tensor::scalar(-0.5, t).item<Float16>().bits, Float16(-0.5f).bits);
  // A non-contiguous view reads in row-major order.
  const Tensor m = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, t).transpose(0, 1);
  EXPECT_EQ(m.to_vector<float>(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
}

TEST_P(DtypeTensor, FullZerosOnesArange) {
  const DType t = GetParam();
  EXPECT_EQ(Tensor::zeros({2, 3}, t).dtype(), t);
  EXPECT_EQ(bits_of(Tensor::zeros({3}, t)), (std::vector<uint16_t>{0, 0, 0}));
  EXPECT_EQ(bits_of(Tensor::ones({2}, t)), rounded_bits({1, 1}, t));
  EXPECT_EQ(bits_of(Tensor::full({2}, 1.1, t)), rounded_bits({1.1f, 1.1f}, t));
  EXPECT_EQ(bits_of(Tensor::full({1}, 65520.0, t)), rounded_bits({65520.0f}, t));
  EXPECT_EQ(Tensor::empty({4, 0}, t).numel(), 0);
  const Tensor a = Tensor::arange(300, t);
  EXPECT_EQ(a.dtype(), t);
  std::vector<float> expect;
  for (int i = 0; i < 300; ++i) expect.push_back(static_cast<float>(i));
  EXPECT_EQ(bits_of(a), rounded_bits(expect, t));
  if (t == bfloat16) {
    EXPECT_EQ(a.to_vector<float>()[257], 256.0f);  // 8 significant bits
  }
  Tensor f = Tensor::zeros({2, 2}, t);
  f.fill_(-3.3);
  EXPECT_EQ(bits_of(f), rounded_bits({-3.3f, -3.3f, -3.3f, -3.3f}, t));
  f.copy_(Tensor::from_vector({0.1, 0.2}, {2}, float64));  // broadcast, converted
  EXPECT_EQ(bits_of(f), rounded_bits({0.1f, 0.2f, 0.1f, 0.2f}, t));
  Tensor g = Tensor::zeros({2}, float32);
  g.copy_(Tensor::full({2}, 1.1, t));
  EXPECT_EQ(g.to_vector<float>()[0], t == float16 ? static_cast<float>(Float16(1.1f)) : 1.1015625f);
}

// randn / rand / uniform in float16 and bfloat16 take the float32 draws and round them: the
// same seed gives bits equal to rounding the float32 tensor.
TEST_P(DtypeTensor, RandomDrawsAreRoundedFloat32Draws) {
  const DType t = GetParam();
  Generator g32(11), g16(11);
  const Tensor r32 = Tensor::randn({1000}, g32);
  const Tensor r16 = Tensor::randn({1000}, g16, t);
  EXPECT_EQ(r16.dtype(), t);
  EXPECT_EQ(bits_of(r16), rounded_bits(r32.to_vector<float>(), t));
  // The generators stay in step: the next draws agree too.
  const Tensor u32 = Tensor::rand({257}, g32);
  const Tensor u16 = Tensor::rand({257}, g16, t);
  EXPECT_EQ(bits_of(u16), rounded_bits(u32.to_vector<float>(), t));
  const Tensor v32 = Tensor::uniform({64}, -3, 5, g32);
  const Tensor v16 = Tensor::uniform({64}, -3, 5, g16, t);
  EXPECT_EQ(bits_of(v16), rounded_bits(v32.to_vector<float>(), t));
  Generator gi(1);
  EXPECT_DUET_ERROR(Tensor::randn({2}, gi, int64), "randn", "int64", "bfloat16");
}

// Tensor::to / cast: a recorded op (the cast kernel), rounding to nearest even; the gradient
// of a cast comes back in the source dtype.
TEST_P(DtypeTensor, CastRoundsAndItsGradientComesBack) {
  const DType t = GetParam();
  const Tensor x = Tensor::from_vector(kValues, {13});
  const Tensor y = x.to(t);
  EXPECT_EQ(y.dtype(), t);
  EXPECT_EQ(bits_of(y), rounded_bits(kValues, t));
  EXPECT_TRUE(y.to(t).is_same(y));  // to its own dtype: the same tensor
  // Between the two 16-bit types: through float (exact widening, one rounding).
  const DType other = t == float16 ? bfloat16 : float16;
  const Tensor z = y.to(other);
  EXPECT_EQ(bits_of(z), rounded_bits(y.to_vector<float>(), other));
  // To int64 and back.
  EXPECT_EQ(Tensor::from_vector({2.5, -7.75}, {2}, t).to(int64).to_vector<int64_t>(),
            (std::vector<int64_t>{2, -7}));
  // Gradient: float32 leaf -> t -> float32 sum.
  Tensor leaf = Tensor::from_vector({1.1, 2.2, -3.3}, {3}).requires_grad_();
  Tensor low = leaf.to(t);
  Tensor s = sum(low.to(float32));
  s.backward();
  ASSERT_TRUE(leaf.grad().defined());
  EXPECT_EQ(leaf.grad().dtype(), float32);
  expect_values(leaf.grad(), {1, 1, 1}, 0);
  // A low-precision leaf gets a low-precision gradient.
  Tensor lp = Tensor::from_vector({0.5, 1.5}, {2}, t).requires_grad_();
  Tensor w = Tensor::from_vector({3.3, -1.1}, {2});
  sum(mul(lp.to(float32), w)).backward();
  EXPECT_EQ(lp.grad().dtype(), t);
  EXPECT_EQ(bits_of(lp.grad()), rounded_bits({3.3f, -1.1f}, t));
}

TEST_P(DtypeTensor, PrintsLikeFloat32WithTheDtype) {
  const DType t = GetParam();
  const Tensor x = Tensor::from_vector({1.1, -2, 0.25}, {3}, t);
  const std::string s = x.str();
  const std::string name = t == float16 ? "float16" : "bfloat16";
  EXPECT_NE(s.find("dtype=" + name), std::string::npos) << s;
  // The values as float32 prints the same (widened) values.
  const std::string f = x.to(float32).str();
  EXPECT_EQ(s.substr(0, s.find(", shape=")), f.substr(0, f.find(", shape="))) << s << "\n" << f;
  EXPECT_NE(s.find(t == float16 ? "1.1" : "1.102"), std::string::npos) << s;
  // docs/mixed_precision.md's example, verbatim.
  EXPECT_EQ(Tensor::from_vector({1.1, 2.0}, {2}, float16).to(float32).to(t).str(),
            t == bfloat16 ? "tensor([1.102, 2], shape=(2,), dtype=bfloat16)"
                          : "tensor([1.1, 2], shape=(2,), dtype=float16)");
  EXPECT_NE(Tensor::full({}, INFINITY, t).str().find("inf"), std::string::npos);
  EXPECT_NE(Tensor::full({}, NAN, t).str().find("nan"), std::string::npos);
  // requires_grad shows, as for float32.
  Tensor r = Tensor::ones({2}, t).requires_grad_();
  EXPECT_NE(r.str().find("requires_grad=true"), std::string::npos) << r.str();
}

TEST_P(DtypeTensor, FromBlobReadsTheCallersBits) {
  const DType t = GetParam();
  uint16_t buf[4] = {0x3c00, 0x4000, 0x3f80, 0x4000};
  const Tensor x = Tensor::from_blob(buf, {2, 2}, t);
  EXPECT_EQ(x.dtype(), t);
  EXPECT_EQ(bits_of(x), (std::vector<uint16_t>{0x3c00, 0x4000, 0x3f80, 0x4000}));
  EXPECT_EQ(x.data_ptr(), static_cast<void*>(buf));
}

INSTANTIATE_TEST_SUITE_P(LowPrecision, DtypeTensor, ::testing::Values(float16, bfloat16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

// docs/mixed_precision.md, "Dtypes": the snippet line for line, with what its comments promise.
TEST(DtypeDocs, MixedPrecisionDtypesSnippet) {
  std::ostringstream out;
  std::streambuf* saved = std::cout.rdbuf(out.rdbuf());  // the snippet prints to std::cout
  // ---- the snippet ----
  duet::Generator gen(0);
  auto w = duet::Tensor::randn({64, 3, 3, 3}, gen, duet::bfloat16);  // float32 draws, rounded
  auto x = duet::Tensor::from_vector({1.1, 2.0}, {2}, duet::float16);
  auto y = x.to(duet::float32);       // exact: every 16-bit value is a float
  auto b = y.to(duet::bfloat16);      // round to nearest even (a recorded cast op)
  float v = b.to_vector<float>()[0];  // 1.1015625
  duet::BFloat16 raw = b.to_vector<duet::BFloat16>()[0];  // raw.bits == 0x3f8d
  duet::DType t = duet::parse_dtype("bf16");              // bfloat16 (command-line flags)
  std::cout << b;  // tensor([1.102, 2], shape=(2,), dtype=bfloat16)
  // ---- checks ----
  std::cout.rdbuf(saved);
  Generator g2(0);
  EXPECT_EQ(bits_of(w),
            rounded_bits(Tensor::randn({64, 3, 3, 3}, g2).to_vector<float>(), bfloat16));
  EXPECT_EQ(y.to_vector<float>()[0], static_cast<float>(Float16(1.1f)));
  EXPECT_EQ(v, 1.1015625f);
  EXPECT_EQ(raw.bits, 0x3f8d);
  EXPECT_EQ(t, bfloat16);
  EXPECT_EQ(out.str(), "tensor([1.102, 2], shape=(2,), dtype=bfloat16)");
}
