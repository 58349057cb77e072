// ResNet (torchvision.models.resnet): BasicBlock, Bottleneck, ResNet and its five depths.
#include "duet/models/resnet.h"

#include <utility>

#include "duet/ops/elementwise.h"
#include "duet/ops/shape.h"
#include "models/init_util.h"

namespace duet::models {
namespace {

std::shared_ptr<nn::Conv2d> conv3x3(int64_t in, int64_t out, int64_t stride, Generator& gen) {
  return std::make_shared<nn::Conv2d>(
      in, out, 3, Conv2dOptions{.stride = {stride, stride}, .padding = {1, 1}}, false, gen);
}

std::shared_ptr<nn::Conv2d> conv1x1(int64_t in, int64_t out, int64_t stride, Generator& gen) {
  return std::make_shared<nn::Conv2d>(in, out, 1, Conv2dOptions{.stride = {stride, stride}}, false,
                                      gen);
}

template <class B>
std::shared_ptr<nn::Sequential> make_layer(int64_t& inplanes, int64_t planes, int64_t blocks,
                                           int64_t stride, Generator& gen) {
  std::shared_ptr<nn::Sequential> downsample;
  if (stride != 1 || inplanes != planes * B::expansion) {
    downsample = std::make_shared<nn::Sequential>();
    downsample->push_back(conv1x1(inplanes, planes * B::expansion, stride, gen));     // 0
    downsample->push_back(std::make_shared<nn::BatchNorm2d>(planes * B::expansion));  // 1
  }
  auto layer = std::make_shared<nn::Sequential>();
  layer->push_back(std::make_shared<B>(inplanes, planes, stride, std::move(downsample), gen));
  inplanes = planes * B::expansion;
  for (int64_t i = 1; i < blocks; ++i)
    layer->push_back(std::make_shared<B>(inplanes, planes, 1, nullptr, gen));
  return layer;
}

}  // namespace

BasicBlock::BasicBlock(int64_t inplanes, int64_t planes, int64_t stride,
                       std::shared_ptr<nn::Sequential> ds, Generator& gen)
    : Module("BasicBlock") {
  conv1 = register_module("conv1", conv3x3(inplanes, planes, stride, gen));
  bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(planes));
  relu = register_module("relu", std::make_shared<nn::ReLU>());
  conv2 = register_module("conv2", conv3x3(planes, planes, 1, gen));
  bn2 = register_module("bn2", std::make_shared<nn::BatchNorm2d>(planes));
  if (ds) downsample = register_module("downsample", std::move(ds));
}

Tensor BasicBlock::forward(const Tensor& x) {
  Tensor out = (*relu)((*bn1)((*conv1)(x)));
  out = (*bn2)((*conv2)(out));
  const Tensor identity = downsample ? (*downsample)(x) : x;
  return (*relu)(add(out, identity));
}

Bottleneck::Bottleneck(int64_t inplanes, int64_t planes, int64_t stride,
                       std::shared_ptr<nn::Sequential> ds, Generator& gen)
    : Module("Bottleneck") {
  const int64_t width = planes;  // groups 1, base width 64
  conv1 = register_module("conv1", conv1x1(inplanes, width, 1, gen));
  bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(width));
  conv2 = register_module("conv2", conv3x3(width, width, stride, gen));
  bn2 = register_module("bn2", std::make_shared<nn::BatchNorm2d>(width));
  conv3 = register_module("conv3", conv1x1(width, planes * expansion, 1, gen));
  bn3 = register_module("bn3", std::make_shared<nn::BatchNorm2d>(planes * expansion));
  relu = register_module("relu", std::make_shared<nn::ReLU>());
  if (ds) downsample = register_module("downsample", std::move(ds));
}

Tensor Bottleneck::forward(const Tensor& x) {
  Tensor out = (*relu)((*bn1)((*conv1)(x)));
  out = (*relu)((*bn2)((*conv2)(out)));
  out = (*bn3)((*conv3)(out));
  const Tensor identity = downsample ? (*downsample)(x) : x;
  return (*relu)(add(out, identity));
}

ResNet::ResNet(Block block, std::array<int64_t, 4> layers, int64_t num_classes, Generator& gen)
    : Module("ResNet") {
  DUET_CHECK(num_classes >= 1, "ResNet: num_classes = ", num_classes, " (expected >= 1)");
  int64_t inplanes = 64;
  conv1 = register_module(
      "conv1", std::make_shared<nn::Conv2d>(
                   3, inplanes, 7, Conv2dOptions{.stride = {2, 2}, .padding = {3, 3}}, false, gen));
  bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(inplanes));
  relu = register_module("relu", std::make_shared<nn::ReLU>());
  maxpool = register_module("maxpool", std::make_shared<nn::MaxPool2d>(3, 2, 1));
  auto make = [&](int64_t planes, int64_t blocks, int64_t stride) {
    return block == Block::basic ? make_layer<BasicBlock>(inplanes, planes, blocks, stride, gen)
                                 : make_layer<Bottleneck>(inplanes, planes, blocks, stride, gen);
  };
  layer1 = register_module("layer1", make(64, layers[0], 1));
  layer2 = register_module("layer2", make(128, layers[1], 2));
  layer3 = register_module("layer3", make(256, layers[2], 2));
  layer4 = register_module("layer4", make(512, layers[3], 2));
  avgpool = register_module("avgpool", std::make_shared<nn::AdaptiveAvgPool2d>(1));
  fc = register_module("fc", std::make_shared<nn::Linear>(inplanes, num_classes, true, gen));
  detail::init_weights(*this, detail::LinearInit::pytorch_default, gen);
}

Tensor ResNet::forward(const Tensor& x) {
  Tensor y = (*maxpool)((*relu)((*bn1)((*conv1)(x))));  // (N, 64, H/4, W/4)
  y = (*layer4)((*layer3)((*layer2)((*layer1)(y))));    // (N, 512 * expansion, H/32, W/32)
  y = flatten((*avgpool)(y), 1);                        // (N, 512 * expansion)
  return (*fc)(y);                                      // (N, num_classes)
}

std::shared_ptr<ResNet> resnet18(int64_t num_classes, Generator& gen) {
  return std::make_shared<ResNet>(ResNet::Block::basic, std::array<int64_t, 4>{2, 2, 2, 2},
                                  num_classes, gen);
}
std::shared_ptr<ResNet> resnet34(int64_t num_classes, Generator& gen) {
  return std::make_shared<ResNet>(ResNet::Block::basic, std::array<int64_t, 4>{3, 4, 6, 3},
                                  num_classes, gen);
}
std::shared_ptr<ResNet> resnet50(int64_t num_classes, Generator& gen) {
  return std::make_shared<ResNet>(ResNet::Block::bottleneck, std::array<int64_t, 4>{3, 4, 6, 3},
                                  num_classes, gen);
}
std::shared_ptr<ResNet> resnet101(int64_t num_classes, Generator& gen) {
  return std::make_shared<ResNet>(ResNet::Block::bottleneck, std::array<int64_t, 4>{3, 4, 23, 3},
                                  num_classes, gen);
}
std::shared_ptr<ResNet> resnet152(int64_t num_classes, Generator& gen) {
  return std::make_shared<ResNet>(ResNet::Block::bottleneck, std::array<int64_t, 4>{3, 8, 36, 3},
                                  num_classes, gen);
}

}  // namespace duet::models
