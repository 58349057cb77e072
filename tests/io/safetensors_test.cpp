// safetensors: round trips, Python's byte layout, F16/BF16 as float16/bfloat16, save errors.
#include <cmath>
#include <limits>

#include "duet/io.h"
#include "io_test_util.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

std::vector<std::string> keys(const nn::StateDict& d) {
  std::vector<std::string> out;
  for (auto& kv : d) out.push_back(kv.first);
  return out;
}

TEST(Safetensors, RoundTripAllDtypesAndMetadata) {
  TempDir dir;
  const std::string path = dir.file("all.safetensors");
  Generator gen(3);
  nn::StateDict sd = {
      {"f32", Tensor::randn({2, 3}, gen)},
      {"f64", Tensor::randn({4}, gen, float64)},
      {"i64", Tensor::from_vector<int64_t>({-1, 0, int64_t(1) << 40, 7}, {2, 2})},
      {"flag", Tensor::from_vector<bool>({true, false, true}, {3})},
      {"scalar", Tensor::scalar(2.5)},
      {"scalar_i64", Tensor::scalar(-9, int64)},
      {"empty", Tensor::zeros({0, 3})},
      {"empty_i64", Tensor::zeros({0}, int64)},
      {"after_empty", Tensor::from_vector({1.0, 2.0}, {2})},
  };
  const std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "h\xc3\xa9llo"}};
  io::save_safetensors(path, sd, meta);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  nn::StateDict back = io::load_safetensors(path);
  ASSERT_EQ(keys(back), keys(sd));
  for (size_t i = 0; i < sd.size(); ++i) {
    SCOPED_TRACE(sd[i].first);
    EXPECT_EQ(back[i].second.dtype(), sd[i].second.dtype());
    EXPECT_EQ(back[i].second.shape(), sd[i].second.shape());
    EXPECT_EQ(back[i].second.to_vector<double>(), sd[i].second.to_vector<double>());
  }
  EXPECT_EQ(io::load_safetensors_metadata(path), meta);
}

TEST(Safetensors, NoMetadataGivesEmptyMap) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  io::save_safetensors(path, {{"a", Tensor::ones({2})}});
  EXPECT_TRUE(io::load_safetensors_metadata(path).empty());
  EXPECT_EQ(read_file(path).find("__metadata__"), std::string::npos);
}

TEST(Safetensors, EmptyStateDict) {
  TempDir dir;
  const std::string path = dir.file("e.safetensors");
  io::save_safetensors(path, {});
  EXPECT_TRUE(io::load_safetensors(path).empty());
}

TEST(Safetensors, NonContiguousIsWrittenContiguous) {
  TempDir dir;
  const std::string path = dir.file("t.safetensors");
  Tensor x = Tensor::arange(6, float32).reshape({2, 3}).transpose(0, 1);  // (3, 2)
  ASSERT_FALSE(x.is_contiguous());
  io::save_safetensors(path, {{"xt", x}, {"col", x.slice(1, 1, 2)}});
  nn::StateDict back = io::load_safetensors(path);
  expect_values(back[0].second, {0, 3, 1, 4, 2, 5});
  EXPECT_EQ(back[0].second.shape(), (Shape{3, 2}));
  expect_values(back[1].second, {3, 4, 5});
}

TEST(Safetensors, HeaderIsPaddedToEightBytesAndCompact) {
  TempDir dir;
  const std::string path = dir.file("p.safetensors");
  io::save_safetensors(path, {{"a", Tensor::ones({3})}, {"b", Tensor::zeros({1}, int64)}});
  const std::string bytes = read_file(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + n + 3 * 4 + 8);
  const std::string header = bytes.substr(8, n);
  EXPECT_EQ(header.rfind(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},)"
                         R"("b":{"dtype":"I64","shape":[1],"data_offsets":[12,20]}})",
                         0),
            0u)
      << header;
  EXPECT_EQ(header.find_last_not_of(' '), header.find_last_of('}'));
}

// Bytes as Python's safetensors.torch.save_file lays them out (sorted by dtype size, then
// name; "__metadata__" first; header padded with spaces). The JSON order differs from the
// data order here: loading returns data-offset order.
TEST(Safetensors, PythonLayoutLoads) {
  TempDir dir;
  const std::string path = dir.file("py.safetensors");
  const std::string header = R"({"__metadata__":{"format":"pt"},)"
                             R"("z.bias":{"dtype":"F32","shape":[2],"data_offsets":[32,40]},)"
                             R"("a.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[16,32]},)"
                             R"("steps":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},)"
                             R"("mask":{"dtype":"BOOL","shape":[3],"data_offsets":[40,43]}})";
  const std::string data = raw_bytes<int64_t>({5, -6}) + f32_bytes({1.5f, -2.f, 0.25f, 8.f}) +
                           f32_bytes({3.f, 4.f}) + std::string("\x01\x00\x02", 3);
  write_safetensors_bytes(path, header, data);
  nn::StateDict sd = io::load_safetensors(path);
  ASSERT_EQ(keys(sd), (std::vector<std::string>{"steps", "a.weight", "z.bias", "mask"}));
  EXPECT_EQ(sd[0].second.dtype(), int64);
  expect_values(sd[0].second, {5, -6});
  EXPECT_EQ(sd[1].second.shape(), (Shape{2, 2}));
  expect_values(sd[1].second, {1.5, -2, 0.25, 8});
  expect_values(sd[2].second, {3, 4});
  EXPECT_EQ(sd[3].second.dtype(), bool_);
  expect_values(sd[3].second, {1, 0, 1});  // any non-zero byte is true
  EXPECT_EQ(io::load_safetensors_metadata(path).at("format"), "pt");
}

TEST(Safetensors, UnpaddedHeaderAndTrailingWhitespaceLoad) {
  TempDir dir;
  const std::string path = dir.file("u.safetensors");
  write_file(path, safetensors_bytes(R"( {"x":{"dtype":"F64","shape":[],"data_offsets":[0,8]}} )",
                                     raw_bytes<double>({-0.125}), /*pad=*/false));
  nn::StateDict sd = io::load_safetensors(path);
  ASSERT_EQ(sd.size(), 1u);
  EXPECT_EQ(sd[0].second.dim(), 0);
  EXPECT_EQ(sd[0].second.item<double>(), -0.125);
}

TEST(Safetensors, F16LoadsAsFloat16) {
  TempDir dir;
  const std::string path = dir.file("h.safetensors");
  // 1, -2, 0.5, 65504 (max), 2^-24 (smallest subnormal), -0, inf, 0x3555, 2^-14 (min normal)
  const std::vector<uint16_t> h = {0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001,
                                   0x8000, 0x7C00, 0x3555, 0x0400};
  write_safetensors_bytes(path, R"({"h":{"dtype":"F16","shape":[9],"data_offsets":[0,18]}})",
                          raw_bytes(h));
  Tensor t = io::load_safetensors(path)[0].second;
  EXPECT_EQ(t.dtype(), float16);
  const std::vector<Float16> bits = t.to_vector<Float16>();  // the file's bits
  for (size_t i = 0; i < h.size(); ++i) EXPECT_EQ(bits[i].bits, h[i]) << i;
  std::vector<float> v = t.to_vector<float>();  // widened exactly
  EXPECT_EQ(v[0], 1.0f);
  EXPECT_EQ(v[1], -2.0f);
  EXPECT_EQ(v[2], 0.5f);
  EXPECT_EQ(v[3], 65504.0f);
  EXPECT_EQ(v[4], std::ldexp(1.0f, -24));
  EXPECT_EQ(v[5], 0.0f);
  EXPECT_TRUE(std::signbit(v[5]));
  EXPECT_EQ(v[6], std::numeric_limits<float>::infinity());
  EXPECT_EQ(v[7], 0.333251953125f);
  EXPECT_EQ(v[8], std::ldexp(1.0f, -14));
  // NaN stays NaN.
  write_safetensors_bytes(path, R"({"h":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}})",
                          raw_bytes<uint16_t>({0x7E00}));
  EXPECT_TRUE(std::isnan(io::load_safetensors(path)[0].second.item<float>()));
}

TEST(Safetensors, BF16LoadsAsBFloat16) {
  TempDir dir;
  const std::string path = dir.file("b.safetensors");
  const std::vector<uint16_t> b = {0x3F80, 0xC000, 0x4049, 0x7F80, 0x0001, 0xBF00};
  write_safetensors_bytes(path, R"({"b":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]}})",
                          raw_bytes(b));
  Tensor t = io::load_safetensors(path)[0].second;
  EXPECT_EQ(t.dtype(), bfloat16);
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  const std::vector<BFloat16> bits = t.to_vector<BFloat16>();
  for (size_t i = 0; i < b.size(); ++i) EXPECT_EQ(bits[i].bits, b[i]) << i;
  std::vector<float> v = t.to_vector<float>();
  EXPECT_EQ(v[0], 1.0f);
  EXPECT_EQ(v[1], -2.0f);
  EXPECT_EQ(v[2], 3.140625f);
  EXPECT_EQ(v[3], std::numeric_limits<float>::infinity());
  EXPECT_EQ(v[4], std::numeric_limits<float>::denorm_min() * 65536.0f);
  EXPECT_EQ(v[5], -0.5f);
}

TEST(Safetensors, SaveOverwritesAndLeavesNoTempFile) {
  TempDir dir;
  const std::string path = dir.file("o.safetensors");
  io::save_safetensors(path, {{"a", Tensor::ones({100})}});
  io::save_safetensors(path, {{"b", Tensor::full({2}, 4.0)}});
  nn::StateDict sd = io::load_safetensors(path);
  ASSERT_EQ(keys(sd), std::vector<std::string>{"b"});
  expect_values(sd[0].second, {4, 4});
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(Safetensors, SaveRejectsBadInput) {
  TempDir dir;
  const std::string path = dir.file("s.safetensors");
  EXPECT_DUET_ERROR(
      io::save_safetensors(path, {{"a", Tensor::ones({1})}, {"a", Tensor::ones({2})}}),
      "save_safetensors", "key 'a' appears more than once");
  EXPECT_DUET_ERROR(io::save_safetensors(path, {{"__metadata__", Tensor::ones({1})}}),
                    "save_safetensors", "'__metadata__' is reserved");
  EXPECT_DUET_ERROR(io::save_safetensors(path, {{"", Tensor::ones({1})}}), "empty name");
  EXPECT_DUET_ERROR(io::save_safetensors(path, {{"u", Tensor()}}), "key 'u'", "undefined");
  EXPECT_DUET_ERROR(io::save_safetensors(path, {{"a", Tensor::ones({1})}}, {{"k", "\xff\xfe"}}),
                    "save_safetensors", "not valid UTF-8");
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(Safetensors, SaveToUnwritablePathThrows) {
  TempDir dir;
  const std::string path = dir.file("no/such/dir/x.safetensors");
  EXPECT_DUET_ERROR(io::save_safetensors(path, {{"a", Tensor::ones({1})}}), "save_safetensors",
                    "x.safetensors.tmp", "cannot open");
}

TEST(Safetensors, SavedFileRequiresGradTensorsAndViews) {
  TempDir dir;
  const std::string path = dir.file("g.safetensors");
  Tensor w = Tensor::ones({2, 2}).requires_grad_();
  io::save_safetensors(path, {{"w", w}, {"row", w.slice(0, 1, 2)}});
  nn::StateDict sd = io::load_safetensors(path);
  EXPECT_FALSE(sd[0].second.requires_grad());
  expect_values(sd[1].second, {1, 1});
}

}  // namespace
