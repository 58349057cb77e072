// safetensors with float16 and bfloat16: F16/BF16 load as float16/bfloat16 (bit for bit), save
// natively, round-trip, and match a file PyTorch wrote (dtype_safetensors_ref.py, torch 1.13:
// its float32 -> float16 / bfloat16 rounding and the format's byte layout); low-precision
// tensors load into float32 models exactly.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>

#include "duet/duet.h"
#include "io/io_test_util.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

// dtype_safetensors_ref.py's output, verbatim: keys h (3, 4) F16, b (3, 4) BF16, f (4) F32,
// the float32 values kBits rounded by PyTorch.
// torch 1.13.0a0: 248 bytes
const unsigned char kTorchFile[] = {
    0xb0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7b, 0x22, 0x68, 0x22, 0x3a, 0x7b, 0x22, 0x64,
    0x74, 0x79, 0x70, 0x65, 0x22, 0x3a, 0x22, 0x46, 0x31, 0x36, 0x22, 0x2c, 0x22, 0x73, 0x68, 0x61,
    0x70, 0x65, 0x22, 0x3a, 0x5b, 0x33, 0x2c, 0x34, 0x5d, 0x2c, 0x22, 0x64, 0x61, 0x74, 0x61, 0x5f,
    0x6f, 0x66, 0x66, 0x73, 0x65, 0x74, 0x73, 0x22, 0x3a, 0x5b, 0x30, 0x2c, 0x32, 0x34, 0x5d, 0x7d,
    0x2c, 0x22, 0x62, 0x22, 0x3a, 0x7b, 0x22, 0x64, 0x74, 0x79, 0x70, 0x65, 0x22, 0x3a, 0x22, 0x42,
    0x46, 0x31, 0x36, 0x22, 0x2c, 0x22, 0x73, 0x68, 0x61, 0x70, 0x65, 0x22, 0x3a, 0x5b, 0x33, 0x2c,
    0x34, 0x5d, 0x2c, 0x22, 0x64, 0x61, 0x74, 0x61, 0x5f, 0x6f, 0x66, 0x66, 0x73, 0x65, 0x74, 0x73,
    0x22, 0x3a, 0x5b, 0x32, 0x34, 0x2c, 0x34, 0x38, 0x5d, 0x7d, 0x2c, 0x22, 0x66, 0x22, 0x3a, 0x7b,
    0x22, 0x64, 0x74, 0x79, 0x70, 0x65, 0x22, 0x3a, 0x22, 0x46, 0x33, 0x32, 0x22, 0x2c, 0x22, 0x73,
    0x68, 0x61, 0x70, 0x65, 0x22, 0x3a, 0x5b, 0x34, 0x5d, 0x2c, 0x22, 0x64, 0x61, 0x74, 0x61, 0x5f,
    0x6f, 0x66, 0x66, 0x73, 0x65, 0x74, 0x73, 0x22, 0x3a, 0x5b, 0x34, 0x38, 0x2c, 0x36, 0x34, 0x5d,
    0x7d, 0x7d, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x00, 0x3c, 0x00, 0xc1, 0x66, 0x2e, 0xff, 0x7b,
    0x00, 0x7c, 0x02, 0x00, 0x48, 0x42, 0x04, 0x3c, 0x0c, 0x3c, 0x00, 0xfc, 0x00, 0x7e, 0x00, 0x7c,
    0x80, 0x3f, 0x20, 0xc0, 0xcd, 0x3d, 0x80, 0x47, 0x80, 0x47, 0xd7, 0x33, 0x49, 0x40, 0x80, 0x3f,
    0x82, 0x3f, 0x80, 0xff, 0xff, 0xff, 0xe2, 0x7e, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0,
    0xcd, 0xcc, 0xcc, 0x3d, 0x00, 0xe0, 0x7f, 0x47,
};
constexpr uint32_t kBits[12] = {0x3F800000, 0xC0200000, 0x3DCCCCCD, 0x477FE000,
                                0x477FF000, 0x33D6BF95, 0x40490FDB, 0x3F808000,
                                0x3F818000, 0xFF800000, 0x7FC00000, 0x7EE1D1D3};
constexpr size_t kNaN = 10;  // the NaN element

std::vector<float> reference_floats() {
  std::vector<float> v;
  for (uint32_t b : kBits) v.push_back(std::bit_cast<float>(b));
  return v;
}

std::string torch_file() {
  return std::string(reinterpret_cast<const char*>(kTorchFile), sizeof(kTorchFile));
}

template <class H>
void expect_bits(const Tensor& t, const std::vector<float>& values) {
  const std::vector<H> got = t.to_vector<H>();
  ASSERT_EQ(got.size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    if (std::isnan(values[i])) {
      EXPECT_TRUE(std::isnan(static_cast<float>(got[i]))) << i;
    } else {
      EXPECT_EQ(got[i].bits, H(values[i]).bits) << i << ": " << values[i];
    }
  }
}

}  // namespace

TEST(DtypeSafetensors, TorchFileLoadsAsFloat16AndBFloat16) {
  TempDir dir;
  const std::string path = dir.file("torch.safetensors");
  write_file(path, torch_file());
  const nn::StateDict sd = io::load_safetensors(path);
  ASSERT_EQ(sd.size(), 3u);
  const std::vector<float> x = reference_floats();
  const Tensor h = nn::find(sd, "h"), b = nn::find(sd, "b"), f = nn::find(sd, "f");
  EXPECT_EQ(h.dtype(), float16);
  EXPECT_EQ(h.shape(), (Shape{3, 4}));
  EXPECT_EQ(b.dtype(), bfloat16);
  EXPECT_EQ(b.shape(), (Shape{3, 4}));
  EXPECT_EQ(f.dtype(), float32);
  // PyTorch's rounding is duet's (half.h), bit for bit; NaN is NaN (PyTorch's vectorised
  // bfloat16 conversion writes 0xffff, its scalar one and duet 0x7fc0).
  expect_bits<Float16>(h, x);
  expect_bits<BFloat16>(b, x);
  const std::vector<Float16> hb = h.to_vector<Float16>();
  EXPECT_EQ(hb[4].bits, 0x7c00);   // 65520: the tie rounds to infinity
  EXPECT_EQ(hb[11].bits, 0x7c00);  // 3e38
  EXPECT_EQ(hb[5].bits, 0x0002);   // 1e-7: a subnormal
  const std::vector<BFloat16> bb = b.to_vector<BFloat16>();
  EXPECT_EQ(bb[7].bits, 0x3f80);  // ties to even
  EXPECT_EQ(bb[8].bits, 0x3f82);
  // Widening is exact.
  const std::vector<float> hf = h.to_vector<float>();
  for (size_t i = 0; i < x.size(); ++i)
    if (i != kNaN) {
      EXPECT_EQ(hf[i], static_cast<float>(Float16(x[i]))) << i;
    }
}

// duet's file of the same tensors is PyTorch's, byte for byte (the NaN element: NaN in both).
TEST(DtypeSafetensors, SavedFileMatchesTorchs) {
  TempDir dir;
  const std::string path = dir.file("duet.safetensors");
  const Tensor x = Tensor::from_vector(reference_floats(), {3, 4});
  io::save_safetensors(
      path, {{"h", x.to(float16)}, {"b", x.to(bfloat16)}, {"f", x.slice(0, 0, 1).reshape({4})}});
  const std::string got = read_file(path), want = torch_file();
  ASSERT_EQ(got.size(), want.size());
  const size_t data_start = 8 + static_cast<size_t>(kTorchFile[0]);
  const size_t nan_bytes[] = {data_start + 2 * kNaN, data_start + 24 + 2 * kNaN};
  for (size_t i = 0; i < got.size(); ++i) {
    if (i == nan_bytes[0] || i == nan_bytes[0] + 1 || i == nan_bytes[1] || i == nan_bytes[1] + 1)
      continue;
    ASSERT_EQ(static_cast<unsigned char>(got[i]), static_cast<unsigned char>(want[i]))
        << "byte " << i;
  }
  const nn::StateDict back = io::load_safetensors(path);
  EXPECT_TRUE(std::isnan(nn::find(back, "h").to_vector<float>()[kNaN]));
  EXPECT_TRUE(std::isnan(nn::find(back, "b").to_vector<float>()[kNaN]));
}

TEST(DtypeSafetensors, RoundTripKeepsBitsAndDtypes) {
  TempDir dir;
  const std::string path = dir.file("rt.safetensors");
  Generator gen(3);
  const Tensor h = Tensor::randn({5, 7}, gen, float16);
  const Tensor b = Tensor::randn({2, 3, 4}, gen, bfloat16);
  const Tensor ht = h.transpose(0, 1);  // saved contiguous
  const Tensor e = Tensor::zeros({0, 3}, bfloat16);
  const Tensor s = Tensor::full({}, -0.0, float16);
  io::save_safetensors(path, {{"h", h}, {"b", b}, {"ht", ht}, {"e", e}, {"s", s}},
                       {{"format", "pt"}});
  const nn::StateDict sd = io::load_safetensors(path);
  ASSERT_EQ(sd.size(), 5u);
  auto same_bits = [](const Tensor& a, const Tensor& c) {
    ASSERT_EQ(a.dtype(), c.dtype());
    ASSERT_EQ(a.shape(), c.shape());
    if (a.dtype() == float16) {
      const auto x = a.to_vector<Float16>(), y = c.to_vector<Float16>();
      for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(x[i].bits, y[i].bits) << i;
    } else {
      const auto x = a.to_vector<BFloat16>(), y = c.to_vector<BFloat16>();
      for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(x[i].bits, y[i].bits) << i;
    }
  };
  same_bits(nn::find(sd, "h"), h);
  same_bits(nn::find(sd, "b"), b);
  same_bits(nn::find(sd, "ht"), ht);
  same_bits(nn::find(sd, "e"), e);
  same_bits(nn::find(sd, "s"), s);
  EXPECT_EQ(nn::find(sd, "s").to_vector<Float16>()[0].bits, 0x8000);
  EXPECT_NE(read_file(path).find(R"("h":{"dtype":"F16","shape":[5,7])"), std::string::npos);
  EXPECT_NE(read_file(path).find(R"("b":{"dtype":"BF16","shape":[2,3,4])"), std::string::npos);
}

// A float32 model loads F16/BF16 weights converted exactly (every half value is a float), and
// a model saved in float32 and cast to bfloat16 by the user loads back into float32.
TEST(DtypeSafetensors, LowPrecisionWeightsLoadIntoFloat32Modules) {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  Generator gen(1);
  nn::Linear src(6, 3, true, gen), dst(6, 3, true, gen);
  nn::StateDict half;
  for (const auto& [k, v] : src.state_dict())
    half.emplace_back(k, v.to(k == "weight" ? bfloat16 : float16));
  io::save_safetensors(path, half);
  io::load_weights(dst, path);
  EXPECT_EQ(dst.weight.dtype(), float32);
  const auto w = dst.weight.to_vector<float>(), ws = src.weight.to_vector<float>();
  for (size_t i = 0; i < w.size(); ++i) EXPECT_EQ(w[i], static_cast<float>(BFloat16(ws[i]))) << i;
  const auto bias = dst.bias.to_vector<float>(), bs = src.bias.to_vector<float>();
  for (size_t i = 0; i < bias.size(); ++i)
    EXPECT_EQ(bias[i], static_cast<float>(Float16(bs[i]))) << i;
  // The errors of a wrong file still name the key and shapes.
  io::save_safetensors(path,
                       {{"weight", Tensor::zeros({2, 6}, bfloat16)}, {"bias", half[1].second}});
  EXPECT_DUET_ERROR(io::load_weights(dst, path), "load_weights", "weight", "(2, 6)", "(3, 6)");
}

TEST(DtypeSafetensors, TruncatedHalfDataIsAnError) {
  TempDir dir;
  const std::string path = dir.file("t.safetensors");
  write_safetensors_bytes(path, R"({"h":{"dtype":"BF16","shape":[3],"data_offsets":[0,6]}})",
                          std::string("\x80\x3f\x00\x40", 4));
  EXPECT_DUET_ERROR(io::load_safetensors(path), "t.safetensors", "'h'", "data_offsets", "[0, 6]");
  write_safetensors_bytes(path, R"({"h":{"dtype":"F16","shape":[3],"data_offsets":[0,4]}})",
                          std::string("\x00\x3c\x00\x40", 4));
  EXPECT_DUET_ERROR(io::load_safetensors(path), "'h'", "[3]", "F16", "needs 6 bytes");
}
