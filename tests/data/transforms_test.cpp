// Transforms against torchvision 0.14 (values printed by /usr/bin/python3, quoted below) and
// by hand: RandomCrop's padded window, RandomHorizontalFlip, Normalize bit for bit, Compose, a
// lambda, and the random draws' distribution.
#include <bit>
#include <cstring>

#include "duet/data.h"
#include "duet/ops.h"
#include "test_util.h"

using namespace duet;
using namespace duet::data;

namespace {

// x = arange(2 * 4 * 5).reshape(2, 4, 5) / 7 as float32, as torch computes it.
Tensor sample_x() {
  std::vector<float> v;
  for (int i = 0; i < 40; ++i) v.push_back(static_cast<float>(i) / 7.0f);
  return Tensor::from_vector(v, {2, 4, 5});
}

std::vector<float> floats(std::initializer_list<double> v) {
  std::vector<float> out;
  for (double d : v) out.push_back(static_cast<float>(d));
  return out;
}

}  // namespace

TEST(Transforms, RandomCropWindowMatchesTorchvision) {
  // F.crop(F.pad(x, [2]), 1, 4, 3, 3)
  Tensor c = RandomCrop(3, 2).crop(sample_x(), 1, 4);
  EXPECT_EQ(c.shape(), (Shape{2, 3, 3}));
  EXPECT_EQ(c.to_vector<float>(),
            floats({0.0, 0.0, 0.0, 0.2857142984867096, 0.4285714328289032, 0.5714285969734192,
                    1.0, 1.1428571939468384, 1.2857142686843872, 0.0, 0.0, 0.0, 3.142857074737549,
                    3.2857143878936768, 3.4285714626312256, 3.857142925262451, 4.0,
                    4.142857074737549}));
  // F.crop(F.pad(x, [1]), 0, 0, 4, 3): a (height, width) window at the padded corner
  Tensor r = RandomCrop(4, 3, 1).crop(sample_x(), 0, 0);
  EXPECT_EQ(r.shape(), (Shape{2, 4, 3}));
  EXPECT_EQ(r.to_vector<float>(),
            floats({0.0, 0.0, 0.0, 0.0, 0.0, 0.1428571492433548, 0.0, 0.7142857313156128,
                    0.8571428656578064, 0.0, 1.4285714626312256, 1.5714285373687744, 0.0, 0.0,
                    0.0, 0.0, 2.857142925262451, 3.0, 0.0, 3.5714285373687744, 3.7142856121063232,
                    0.0, 4.285714149475098, 4.4285712242126465}));
}

TEST(Transforms, RandomCropDrawsTopThenLeftUniformly) {
  // Each call draws top = below(H + 2p - h + 1), then left = below(W + 2p - w + 1).
  Tensor x = sample_x();
  RandomCrop crop(3, 2);
  Generator a(7), b(7);
  std::vector<int> tops(5, 0);
  for (int i = 0; i < 500; ++i) {
    const auto top = static_cast<int64_t>(b.below(4 + 4 - 3 + 1));
    const auto left = static_cast<int64_t>(b.below(5 + 4 - 3 + 1));
    Tensor got = crop(x, a);
    ASSERT_EQ(got.to_vector<float>(), crop.crop(x, top, left).to_vector<float>());
    if (top < 5) tops[top]++;
  }
  for (int t = 0; t < 5; ++t) EXPECT_GT(tops[t], 50) << t;  // each of 6 tops ~83 times
  // Integer images work too (byte copies), and no padding with the full size is identity.
  Tensor xi = Tensor::arange(12).reshape({3, 4});
  Generator g(1);
  EXPECT_EQ(RandomCrop(3, 4, 0)(xi, g).to_vector<int64_t>(), xi.to_vector<int64_t>());
}

TEST(Transforms, HorizontalFlipMatchesTorchvision) {
  Tensor x = sample_x();
  Generator always(3);
  Tensor f = RandomHorizontalFlip(1.0)(x, always);
  // F.hflip(x).flatten()[:10]
  std::vector<float> got = f.to_vector<float>();
  EXPECT_EQ(std::vector<float>(got.begin(), got.begin() + 10),
            floats({0.5714285969734192, 0.4285714328289032, 0.2857142984867096,
                    0.1428571492433548, 0.0, 1.2857142686843872, 1.1428571939468384, 1.0,
                    0.8571428656578064, 0.7142857313156128}));
  EXPECT_EQ(RandomHorizontalFlip(1.0)(f, always).to_vector<float>(), x.to_vector<float>());
  Generator never(3);
  EXPECT_EQ(RandomHorizontalFlip(0.0)(x, never).to_vector<float>(), x.to_vector<float>());
  // p = 0.5: flips exactly when gen.uniform() < 0.5.
  Generator a(11), b(11);
  int flips = 0;
  for (int i = 0; i < 400; ++i) {
    const bool expect = b.uniform() < 0.5;
    Tensor y = RandomHorizontalFlip(0.5)(x, a);
    ASSERT_EQ(y.to_vector<float>()[0], expect ? x.to_vector<float>()[4] : 0.0f);
    flips += expect;
  }
  EXPECT_GT(flips, 150);
  EXPECT_LT(flips, 250);
}

TEST(Transforms, NormalizeBitIdenticalToTorchvision) {
  // T.Normalize([0.5, 0.25], [0.3, 0.7])(x), every float32 as little-endian hex
  const char* hex =
      "5555d5bf866198bf6ddb36bf3bcf73be42cf733e6edb363f8661983f5555d53f93240940799e2740"
      "6118464048926440188681400bc390400000a040f33caf40e879be40dbb6cd40cef3dc40c230ec40"
      "0b5e6e40b76d7b40b23e844088c68a405e4e914034d697400a5e9e40e1e5a440b76dab408df5b140"
      "637db8403905bf40118dc540e714cc40bd9cd2409324d94069acdf403f34e64015bcec40ec43f340";
  std::vector<float> expected;
  for (int i = 0; i < 40; ++i) {
    uint32_t bits = 0;
    for (int k = 0; k < 4; ++k)
      bits |= static_cast<uint32_t>(std::stoul(std::string(hex + 8 * i + 2 * k, 2), nullptr, 16))
              << (8 * k);
    expected.push_back(std::bit_cast<float>(bits));
  }
  Generator g;
  Tensor n = Normalize({0.5, 0.25}, {0.3, 0.7})(sample_x(), g);
  EXPECT_EQ(n.to_vector<float>(), expected);
  // One mean/std for every channel; float64 computed in float64.
  Tensor d = Tensor::from_vector({1.0, 2.0, 3.0, 4.0}, {1, 2, 2}, float64);
  EXPECT_EQ(Normalize({1.0}, {2.0})(d, g).to_vector<double>(),
            (std::vector<double>{0.0, 0.5, 1.0, 1.5}));
}

TEST(Transforms, ComposeAndLambdaShareTheGenerator) {
  Tensor x = sample_x();
  Transform add_noise = [](const Tensor& t, Generator& gen) {
    return add(t, Tensor::full(t.shape(), gen.uniform()));
  };
  Compose both({RandomHorizontalFlip(1.0), add_noise});
  Generator a(5), b(5);
  Tensor got = both(x, a);
  b.uniform();  // the flip's draw
  const float noise = static_cast<float>(b.uniform());
  std::vector<float> flipped = RandomHorizontalFlip(1.0)(x, a).to_vector<float>();
  std::vector<float> want;
  for (float v : flipped) want.push_back(v + noise);
  EXPECT_EQ(got.to_vector<float>(), want);
  EXPECT_EQ(x.to_vector<float>()[1], 1.0f / 7.0f);  // the input is left alone
}

TEST(Transforms, Errors) {
  Generator g;
  EXPECT_DUET_ERROR(RandomCrop(0, 1), "RandomCrop", "size = (0, 0)");
  EXPECT_DUET_ERROR(RandomCrop(3, -1), "RandomCrop", "padding = -1");
  EXPECT_DUET_ERROR(RandomCrop(9, 1)(sample_x(), g), "RandomCrop", "padded input is (6, 7)",
                    "(9, 9)");
  EXPECT_DUET_ERROR(RandomCrop(3, 0).crop(sample_x(), 2, 3), "RandomCrop", "window at (2, 3)");
  EXPECT_DUET_ERROR(RandomHorizontalFlip(1.5), "RandomHorizontalFlip", "p = 1.5");
  EXPECT_DUET_ERROR(RandomHorizontalFlip()(Tensor::zeros({4}), g), "RandomHorizontalFlip",
                    "(4,)", "(C, H, W) or (H, W)");
  EXPECT_DUET_ERROR(Normalize({0.5, 0.5}, {1.0}), "Normalize", "2 means and 1 stds");
  EXPECT_DUET_ERROR(Normalize({0.5}, {0.0}), "Normalize", "std[0] = 0");
  EXPECT_DUET_ERROR(Normalize({0.1, 0.2, 0.3}, {1, 1, 1})(sample_x(), g), "Normalize",
                    "3 means", "2 channels");
  EXPECT_DUET_ERROR(Normalize({0.1}, {1})(Tensor::arange(4).reshape({2, 2}), g), "Normalize",
                    "int64");
  EXPECT_DUET_ERROR(Compose({Transform()})(sample_x(), g), "Compose", "transform 0 is empty");
}
