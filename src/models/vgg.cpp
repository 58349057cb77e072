// VGG (torchvision.models.vgg): make_layers for configuration "D", the VGG module.
#include "duet/models/vgg.h"

#include <utility>
#include <vector>

#include "duet/ops/shape.h"
#include "models/init_util.h"

namespace duet::models {
namespace {

constexpr int64_t kPool = 0;  // "M" in torchvision's cfgs
// cfgs["D"]
const std::vector<int64_t> kVgg16 = {64,    64,  kPool, 128, 128,   kPool, 256, 256, 256,
                                     kPool, 512, 512,   512, kPool, 512,   512, 512, kPool};

std::shared_ptr<nn::Sequential> make_layers(const std::vector<int64_t>& cfg, bool batch_norm,
                                            Generator& gen) {
  auto layers = std::make_shared<nn::Sequential>();
  int64_t in = 3;
  for (int64_t v : cfg) {
    if (v == kPool) {
      layers->push_back(std::make_shared<nn::MaxPool2d>(2, 2));
      continue;
    }
    layers->push_back(std::make_shared<nn::Conv2d>(in, v, 3, Conv2dOptions{.padding = {1, 1}},
                                                   /*bias=*/true, gen));
    if (batch_norm) layers->push_back(std::make_shared<nn::BatchNorm2d>(v));
    layers->push_back(std::make_shared<nn::ReLU>());
    in = v;
  }
  return layers;
}

}  // namespace

VGG::VGG(std::shared_ptr<nn::Sequential> feats, int64_t num_classes, double dropout, Generator& gen)
    : Module("VGG") {
  DUET_CHECK(num_classes >= 1, "VGG: num_classes = ", num_classes, " (expected >= 1)");
  features = register_module("features", std::move(feats));
  avgpool = register_module("avgpool", std::make_shared<nn::AdaptiveAvgPool2d>(7));
  classifier = register_module("classifier", std::make_shared<nn::Sequential>());
  classifier->push_back(std::make_shared<nn::Linear>(512 * 7 * 7, 4096, true, gen));
  classifier->push_back(std::make_shared<nn::ReLU>());
  classifier->push_back(std::make_shared<nn::Dropout>(dropout));
  classifier->push_back(std::make_shared<nn::Linear>(4096, 4096, true, gen));
  classifier->push_back(std::make_shared<nn::ReLU>());
  classifier->push_back(std::make_shared<nn::Dropout>(dropout));
  classifier->push_back(std::make_shared<nn::Linear>(4096, num_classes, true, gen));
  detail::init_weights(*this, detail::LinearInit::normal_0_01, gen);
}

Tensor VGG::forward(const Tensor& x) {
  Tensor y = (*avgpool)((*features)(x));  // (N, 512, 7, 7)
  return (*classifier)(flatten(y, 1));    // (N, 25088) -> (N, num_classes)
}

std::shared_ptr<VGG> vgg16(int64_t num_classes, Generator& gen) {
  return std::make_shared<VGG>(make_layers(kVgg16, false, gen), num_classes, 0.5, gen);
}

std::shared_ptr<VGG> vgg16_bn(int64_t num_classes, Generator& gen) {
  return std::make_shared<VGG>(make_layers(kVgg16, true, gen), num_classes, 0.5, gen);
}

}  // namespace duet::models
