// The zoo against torchvision 0.14: parameter counts, state_dict names and shapes, module
// types (expected values from tests/models/gen_expected.py), and create_model's errors.
#include <chrono>
#include <sstream>

#include "duet/models.h"
#include "expected_models.h"
#include "test_util.h"

using namespace duet;
using namespace duet::test;

namespace {

uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// "name:d0xd1x...\n" per entry, as gen_expected.py writes it.
std::vector<std::string> state_dict_lines(const nn::Module& m) {
  std::vector<std::string> lines;
  for (const auto& [name, t] : m.state_dict()) {
    std::string line = name + ":";
    for (size_t i = 0; i < t.shape().size(); ++i)
      line += (i ? "x" : "") + std::to_string(t.shape()[i]);
    lines.push_back(line + "\n");
  }
  return lines;
}

std::vector<std::string> module_lines(nn::Module& m) {
  std::vector<std::string> lines;
  for (const auto& [name, mod] : m.named_modules())
    lines.push_back(name + ":" + mod->type_name() + "\n");
  return lines;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l;
  return s;
}

// Every model of a family at num_classes 1000: counts and hashes equal torchvision's, and a
// forward pass at (2, 3, 32, 32) gives (2, 1000) in training and in eval mode.
void expect_family_matches(const std::string& prefix) {
  Generator gen(0);
  int checked = 0;
  for (const ExpectedModel& e : expected_models()) {
    if (e.name.rfind(prefix, 0) != 0) continue;
    SCOPED_TRACE(e.name);
    ++checked;
    const auto t0 = std::chrono::steady_clock::now();
    auto net = models::create_model(e.name, 1000, gen);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "  " << e.name << ": built in " << secs << " s\n";
    EXPECT_EQ(net->num_parameters(), e.num_parameters);
    EXPECT_TRUE(net->training_flag());

    const auto sd = state_dict_lines(*net);
    EXPECT_EQ(sd.size(), e.state_dict_entries);
    for (size_t i = 0; i < e.first_state_dict_names.size() && i < sd.size(); ++i)
      EXPECT_EQ(sd[i].substr(0, sd[i].find(':')), e.first_state_dict_names[i]);
    EXPECT_EQ(fnv1a64(joined(sd)), e.state_dict_hash) << "state_dict:\n" << joined(sd);

    const auto mods = module_lines(*net);
    EXPECT_EQ(mods.size(), e.module_entries);
    EXPECT_EQ(fnv1a64(joined(mods)), e.module_hash) << "modules:\n" << joined(mods);

    // BatchNorm hyper-parameters: PyTorch's defaults, except EfficientNet-B5..B7's
    // norm_layer=partial(nn.BatchNorm2d, eps=0.001, momentum=0.01).
    const bool tf_bn =
        e.name == "efficientnet_b5" || e.name == "efficientnet_b6" || e.name == "efficientnet_b7";
    for (auto& [mname, m] : net->named_modules())
      if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(m)) {
        ASSERT_DOUBLE_EQ(bn->eps, tf_bn ? 1e-3 : 1e-5) << mname;
        ASSERT_DOUBLE_EQ(bn->momentum.value_or(-1), tf_bn ? 0.01 : 0.1) << mname;
      }

    NoGradGuard no_grad;
    Tensor x = Tensor::randn({2, 3, 32, 32}, gen);
    EXPECT_EQ((*net)(x).shape(), (Shape{2, 1000}));
    net->eval();
    EXPECT_EQ((*net)(x).shape(), (Shape{2, 1000}));
  }
  EXPECT_GT(checked, 0);
}

}  // namespace

TEST(ModelZoo, NamesInBenchmarkOrder) {
  const auto& names = models::model_names();
  ASSERT_EQ(names.size(), expected_models().size());
  for (size_t i = 0; i < names.size(); ++i) EXPECT_EQ(names[i], expected_models()[i].name);
}

TEST(ModelZoo, ResNetsMatchTorchvision) {
  expect_family_matches("resnet");
}

TEST(ModelZoo, VggsMatchTorchvision) {
  expect_family_matches("vgg");
}

TEST(ModelZoo, MobileNetV2MatchesTorchvision) {
  expect_family_matches("mobilenet_v2");
}

TEST(ModelZoo, EfficientNetsMatchTorchvision) {
  expect_family_matches("efficientnet");
}
