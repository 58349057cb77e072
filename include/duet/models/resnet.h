// ResNet-18/34/50/101/152 (torchvision.models.resnet, v1.5: the stride of a Bottleneck is on
// its 3x3 convolution). Module types and state_dict names are torchvision's.
//
//   duet::Generator gen(0);
//   auto net = duet::models::resnet50(/*num_classes=*/1000, gen);
//   auto logits = (*net)(x);         // x: (N, 3, H, W) -> (N, 1000)
//   net->state_dict();               // "conv1.weight", ..., "layer1.0.downsample.0.weight", ...
//
// Initialisation (torchvision): Conv2d kaiming_normal_(fan_out, relu); BatchNorm 1 / 0;
// Linear PyTorch's default. All drawn from `gen`.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "duet/nn.h"

namespace duet::models {

// conv3x3 -> BN -> ReLU -> conv3x3 -> BN, + identity (or downsample(x)), ReLU.
// Children: conv1, bn1, relu, conv2, bn2[, downsample].
//   x: (N, inplanes, H, W) -> (N, planes, H / stride, W / stride)
class BasicBlock : public nn::Module {
 public:
  static constexpr int64_t expansion = 1;
  // downsample: nullptr or Sequential(conv1x1, BatchNorm2d) matching the output shape.
  BasicBlock(int64_t inplanes, int64_t planes, int64_t stride,
             std::shared_ptr<nn::Sequential> downsample, Generator& gen);
  Tensor forward(const Tensor& x) override;

  std::shared_ptr<nn::Conv2d> conv1, conv2;
  std::shared_ptr<nn::BatchNorm2d> bn1, bn2;
  std::shared_ptr<nn::ReLU> relu;
  std::shared_ptr<nn::Sequential> downsample;  // null when the shapes already match
};

// conv1x1 -> BN -> ReLU -> conv3x3 (stride) -> BN -> ReLU -> conv1x1 (x4) -> BN, + identity,
// ReLU. Children: conv1, bn1, conv2, bn2, conv3, bn3, relu[, downsample].
//   x: (N, inplanes, H, W) -> (N, 4 * planes, H / stride, W / stride)
class Bottleneck : public nn::Module {
 public:
  static constexpr int64_t expansion = 4;
  Bottleneck(int64_t inplanes, int64_t planes, int64_t stride,
             std::shared_ptr<nn::Sequential> downsample, Generator& gen);
  Tensor forward(const Tensor& x) override;

  std::shared_ptr<nn::Conv2d> conv1, conv2, conv3;
  std::shared_ptr<nn::BatchNorm2d> bn1, bn2, bn3;
  std::shared_ptr<nn::ReLU> relu;
  std::shared_ptr<nn::Sequential> downsample;
};

// Children: conv1, bn1, relu, maxpool, layer1..layer4 (Sequentials of blocks), avgpool, fc.
//   x: (N, 3, H, W) -> stem (N, 64, H/4, W/4) -> layer4 (N, 512 * expansion, H/32, W/32)
//   -> avgpool + flatten (N, 512 * expansion) -> fc (N, num_classes)
class ResNet : public nn::Module {
 public:
  enum class Block { basic, bottleneck };
  ResNet(Block block, std::array<int64_t, 4> layers, int64_t num_classes, Generator& gen);
  Tensor forward(const Tensor& x) override;

  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::BatchNorm2d> bn1;
  std::shared_ptr<nn::ReLU> relu;
  std::shared_ptr<nn::MaxPool2d> maxpool;
  std::shared_ptr<nn::Sequential> layer1, layer2, layer3, layer4;
  std::shared_ptr<nn::AdaptiveAvgPool2d> avgpool;
  std::shared_ptr<nn::Linear> fc;
};

std::shared_ptr<ResNet> resnet18(int64_t num_classes = 1000, Generator& gen = default_generator());
std::shared_ptr<ResNet> resnet34(int64_t num_classes = 1000, Generator& gen = default_generator());
std::shared_ptr<ResNet> resnet50(int64_t num_classes = 1000, Generator& gen = default_generator());
std::shared_ptr<ResNet> resnet101(int64_t num_classes = 1000, Generator& gen = default_generator());
std::shared_ptr<ResNet> resnet152(int64_t num_classes = 1000, Generator& gen = default_generator());

}  // namespace duet::models
