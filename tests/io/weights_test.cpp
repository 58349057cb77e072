// save_weights / load_weights: module round trips and all-or-nothing load errors.
#include "duet/io.h"
#include "duet/nn.h"
#include "io_test_util.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

// Sequential(Conv2d, BatchNorm2d, ReLU, AdaptiveAvgPool2d, Flatten, Linear(8, classes))
std::shared_ptr<nn::Sequential> small_net(uint64_t seed, int64_t classes = 5) {
  Generator gen(seed);
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(
      std::make_shared<nn::Conv2d>(3, 8, 3, Conv2dOptions{.padding = {1, 1}}, true, gen));
  auto bn = std::make_shared<nn::BatchNorm2d>(8);
  {
    NoGradGuard no_grad;  // non-trivial statistics so a lost buffer would show
    bn->running_mean.copy_(Tensor::randn({8}, gen));
    bn->running_var.copy_(Tensor::uniform({8}, 0.5, 2.0, gen));
    bn->weight.copy_(Tensor::randn({8}, gen));
    bn->bias.copy_(Tensor::randn({8}, gen));
    bn->num_batches_tracked.fill_(static_cast<double>(seed + 3));
  }
  net->push_back(bn);
  net->push_back(std::make_shared<nn::ReLU>());
  net->push_back(std::make_shared<nn::AdaptiveAvgPool2d>(1));
  net->push_back(std::make_shared<nn::Flatten>());
  net->push_back(std::make_shared<nn::Linear>(8, classes, true, gen));
  return net;
}

std::vector<std::vector<double>> snapshot(const nn::Module& m) {
  std::vector<std::vector<double>> out;
  for (auto& kv : m.state_dict()) out.push_back(kv.second.to_vector<double>());
  return out;
}

TEST(Weights, ModuleRoundTrip) {
  TempDir dir;
  const std::string path = dir.file("net.safetensors");
  auto a = small_net(1), b = small_net(2);
  a->eval();
  b->eval();
  io::save_weights(*a, path);
  EXPECT_EQ(io::load_safetensors_metadata(path).at("format"), "pt");
  ASSERT_NE(snapshot(*a), snapshot(*b));
  io::load_weights(*b, path);
  EXPECT_EQ(snapshot(*a), snapshot(*b));
  EXPECT_EQ(b->state_dict()[6].first, "1.num_batches_tracked");
  EXPECT_EQ(b->state_dict()[6].second.dtype(), int64);
  EXPECT_EQ(b->state_dict()[6].second.item<int64_t>(), 4);
  // Parameters are still the module's own leaves that require grad.
  EXPECT_TRUE(b->parameters()[0].requires_grad());
  Generator gen(7);
  Tensor x = Tensor::randn({2, 3, 6, 6}, gen);
  NoGradGuard no_grad;
  expect_close((*b)(x), (*a)(x), 0, 0);
}

TEST(Weights, ShapeMismatchNamesKeyAndShapesAndChangesNothing) {
  TempDir dir;
  const std::string path = dir.file("net.safetensors");
  io::save_weights(*small_net(1, /*classes=*/10), path);
  auto b = small_net(2, /*classes=*/5);
  const auto before = snapshot(*b);
  EXPECT_DUET_ERROR(io::load_weights(*b, path), "load_weights", "net.safetensors",
                    "shape mismatch for '5.weight'", "(10, 8)", "(5, 8)");
  EXPECT_EQ(snapshot(*b), before);
}

TEST(Weights, MissingKeyNamesKeyAndChangesNothing) {
  TempDir dir;
  const std::string path = dir.file("net.safetensors");
  nn::StateDict sd = small_net(1)->state_dict();
  sd.erase(sd.begin() + 5);  // "1.running_var"
  io::save_safetensors(path, sd);
  auto b = small_net(2);
  const auto before = snapshot(*b);
  EXPECT_DUET_ERROR(io::load_weights(*b, path), "load_weights", "missing key '1.running_var'",
                    "(8,)");
  EXPECT_EQ(snapshot(*b), before);
}

TEST(Weights, UnexpectedKeyNamesKeyAndChangesNothing) {
  TempDir dir;
  const std::string path = dir.file("net.safetensors");
  nn::StateDict sd = small_net(1)->state_dict();
  sd.emplace_back("fc.extra", Tensor::ones({3}));
  io::save_safetensors(path, sd);
  auto b = small_net(2);
  const auto before = snapshot(*b);
  EXPECT_DUET_ERROR(io::load_weights(*b, path), "load_weights", "unexpected key 'fc.extra'");
  EXPECT_EQ(snapshot(*b), before);
}

TEST(Weights, BadFileChangesNothing) {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  write_file(path, "abc");
  auto b = small_net(2);
  const auto before = snapshot(*b);
  EXPECT_DUET_ERROR(io::load_weights(*b, path), "load_safetensors", "bad.safetensors", "too short");
  EXPECT_DUET_ERROR(io::load_weights(*b, dir.file("missing.safetensors")), "missing.safetensors",
                    "cannot open");
  EXPECT_EQ(snapshot(*b), before);
}

TEST(Weights, F16FileLoadsIntoFloatModel) {
  TempDir dir;
  const std::string path = dir.file("h.safetensors");
  Generator gen(0);
  nn::Linear lin(2, 1, true, gen);
  // weight (1, 2) = [0.5, -2], bias (1) = [1]
  write_safetensors_bytes(path,
                          R"({"weight":{"dtype":"F16","shape":[1,2],"data_offsets":[0,4]},)"
                          R"("bias":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]}})",
                          raw_bytes<uint16_t>({0x3800, 0xC000, 0x3F80}));
  io::load_weights(lin, path);
  expect_values(lin.weight, {0.5, -2});
  expect_values(lin.bias, {1});
}

}  // namespace
