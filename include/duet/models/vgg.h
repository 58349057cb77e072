// VGG-16 with and without batch norm (torchvision.models.vgg, configuration "D").
//
//   duet::Generator gen(0);
//   auto net = duet::models::vgg16_bn(/*num_classes=*/10, gen);
//   auto logits = (*net)(x);       // x: (N, 3, H, W), H, W >= 32 -> (N, 10)
//
// Children: features (Sequential of Conv2d 3x3 pad 1 [+ BatchNorm2d], ReLU, MaxPool2d 2),
// avgpool (AdaptiveAvgPool2d (7, 7)), classifier (Linear 25088->4096, ReLU, Dropout,
// Linear 4096->4096, ReLU, Dropout, Linear 4096->num_classes). Initialisation (torchvision):
// Conv2d kaiming_normal_(fan_out, relu), bias 0; BatchNorm 1 / 0; Linear N(0, 0.01^2), bias
// 0, drawn from `gen`. Dropout draws from the default generator (as graph mode does).
#pragma once

#include <cstdint>
#include <memory>

#include "duet/nn.h"

namespace duet::models {

class VGG : public nn::Module {
 public:
  VGG(std::shared_ptr<nn::Sequential> features, int64_t num_classes, double dropout,
      Generator& gen);
  // x: (N, 3, H, W) -> features (N, 512, H/32, W/32) -> avgpool (N, 512, 7, 7)
  //   -> flatten (N, 25088) -> classifier (N, num_classes)
  Tensor forward(const Tensor& x) override;

  std::shared_ptr<nn::Sequential> features;
  std::shared_ptr<nn::AdaptiveAvgPool2d> avgpool;
  std::shared_ptr<nn::Sequential> classifier;
};

std::shared_ptr<VGG> vgg16(int64_t num_classes = 1000, Generator& gen = default_generator());
std::shared_ptr<VGG> vgg16_bn(int64_t num_classes = 1000, Generator& gen = default_generator());

}  // namespace duet::models
