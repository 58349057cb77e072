// MobileNetV2 (torchvision.models.mobilenetv2, width 1.0).
//
//   duet::Generator gen(0);
//   auto net = duet::models::mobilenet_v2(/*num_classes=*/10, gen);
//   auto logits = (*net)(x);       // x: (N, 3, H, W) -> (N, 10)
//
// Children: features (Conv2dNormActivation stem, 17 InvertedResidual, Conv2dNormActivation
// 320->1280), classifier (Dropout(0.2), Linear 1280->num_classes); the global average pool
// is functional (no module), as in torchvision. Initialisation: Conv2d
// kaiming_normal_(fan_out), bias 0; BatchNorm 1 / 0; Linear N(0, 0.01^2), bias 0, drawn from
// `gen`. Dropout draws from the default generator (as graph mode does).
#pragma once

#include <cstdint>
#include <memory>

#include "duet/models/blocks.h"
#include "duet/nn.h"

namespace duet::models {

// Child "conv": Sequential([Conv2dNormActivation 1x1 expand (ReLU6) when expand_ratio != 1,]
// Conv2dNormActivation 3x3 depthwise (ReLU6), Conv2d 1x1 project, BatchNorm2d); plus x when
// stride == 1 and inp == oup.   x: (N, inp, H, W) -> (N, oup, H / stride, W / stride)
class InvertedResidual : public nn::Module {
 public:
  InvertedResidual(int64_t inp, int64_t oup, int64_t stride, int64_t expand_ratio, Generator& gen);
  Tensor forward(const Tensor& x) override;

  std::shared_ptr<nn::Sequential> conv;
  bool use_res_connect;
};

class MobileNetV2 : public nn::Module {
 public:
  MobileNetV2(int64_t num_classes, double dropout, Generator& gen);
  // x: (N, 3, H, W) -> features (N, 1280, H/32, W/32) -> pool + flatten (N, 1280)
  //   -> classifier (N, num_classes)
  Tensor forward(const Tensor& x) override;

  std::shared_ptr<nn::Sequential> features, classifier;
};

std::shared_ptr<MobileNetV2> mobilenet_v2(int64_t num_classes = 1000,
                                          Generator& gen = default_generator());

}  // namespace duet::models
