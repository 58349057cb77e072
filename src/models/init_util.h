// torchvision's weight initialisation loops ("for m in self.modules(): ..."), shared by the
// zoo's families. Internal to src/models.
#pragma once

#include "duet/nn/module.h"
#include "duet/random.h"

namespace duet::models::detail {

// How a family initialises its Linear layers (the bias is zeroed except for pytorch_default).
enum class LinearInit {
  pytorch_default,  // keep nn::Linear's own init (ResNet)
  normal_0_01,      // N(0, 0.01^2) (VGG, MobileNetV2)
  uniform_out,      // U(-1/sqrt(out_features), +1/sqrt(out_features)) (EfficientNet)
};

// Visits `root` and its descendants in order: Conv2d weight kaiming_normal_(fan_out, relu
// gain sqrt(2)) and bias 0; BatchNorm2d weight 1 and bias 0; Linear per `linear`.
void init_weights(nn::Module& root, LinearInit linear, Generator& gen);

}  // namespace duet::models::detail
