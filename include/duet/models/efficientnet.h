// EfficientNet-B0..B7 (torchvision.models.efficientnet, the v1 family).
//
//   duet::Generator gen(0);
//   auto net = duet::models::efficientnet_b0(/*num_classes=*/10, gen);
//   auto logits = (*net)(x);       // x: (N, 3, H, W) -> (N, 10)
//
// Children: features (Conv2dNormActivation stem 3x3/2 SiLU, 7 stages of MBConv Sequentials,
// Conv2dNormActivation 1x1 to 4x the last stage's channels), avgpool, classifier (Dropout,
// Linear). Widths and depths scale with torchvision's _efficientnet_conf multipliers;
// block k of K (0-based, over all stages) has stochastic depth probability 0.2 * k / K.
// BatchNorm is PyTorch's default for B0-B4 and (eps 1e-3, momentum 0.01) for B5-B7, as in
// torchvision. Initialisation: Conv2d kaiming_normal_(fan_out), bias 0; BatchNorm 1 / 0;
// Linear U(-1/sqrt(out), 1/sqrt(out)), bias 0, drawn from `gen`. Dropout and stochastic
// depth draw from the default generator (as graph mode does).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "duet/models/blocks.h"
#include "duet/nn.h"

namespace duet::models {

// One stage of MBConv blocks (torchvision's MBConvConfig, after width/depth scaling).
struct MBConvConfig {
  double expand_ratio;
  int64_t kernel, stride, input_channels, out_channels, num_layers;
  // torchvision: channels and layers scaled by width_mult / depth_mult.
  static MBConvConfig scaled(double expand_ratio, int64_t kernel, int64_t stride,
                             int64_t input_channels, int64_t out_channels, int64_t num_layers,
                             double width_mult, double depth_mult);
};

// Child "block": Sequential([Conv2dNormActivation 1x1 expand (SiLU) when expanding,]
// Conv2dNormActivation kxk depthwise (SiLU), SqueezeExcitation (squeeze
// max(1, input_channels / 4), SiLU), Conv2dNormActivation 1x1 project (no activation));
// child "stochastic_depth"; the residual (stochastic_depth(block(x)) + x) when stride 1 and
// input_channels == out_channels.   x: (N, in, H, W) -> (N, out, H / stride, W / stride)
class MBConv : public nn::Module {
 public:
  MBConv(const MBConvConfig& cnf, double stochastic_depth_prob, const BatchNormOptions& norm,
         Generator& gen);
  Tensor forward(const Tensor& x) override;

  std::shared_ptr<nn::Sequential> block;
  std::shared_ptr<nn::StochasticDepth> stochastic_depth;
  bool use_res_connect;
};

class EfficientNet : public nn::Module {
 public:
  EfficientNet(const std::vector<MBConvConfig>& setting, double dropout, int64_t num_classes,
               const BatchNormOptions& norm, Generator& gen, double stochastic_depth_prob = 0.2);
  // x: (N, 3, H, W) -> features (N, C, H/32, W/32) -> avgpool + flatten (N, C)
  //   -> classifier (N, num_classes)
  Tensor forward(const Tensor& x) override;

  std::shared_ptr<nn::Sequential> features;
  std::shared_ptr<nn::AdaptiveAvgPool2d> avgpool;
  std::shared_ptr<nn::Sequential> classifier;
};

// variant 0..7: efficientnet_b0 ... efficientnet_b7.
std::shared_ptr<EfficientNet> efficientnet(int variant, int64_t num_classes = 1000,
                                           Generator& gen = default_generator());
std::shared_ptr<EfficientNet> efficientnet_b0(int64_t num_classes = 1000,
                                              Generator& gen = default_generator());
std::shared_ptr<EfficientNet> efficientnet_b1(int64_t num_classes = 1000,
                                              Generator& gen = default_generator());
std::shared_ptr<EfficientNet> efficientnet_b2(int64_t num_classes = 1000,
                                              Generator& gen = default_generator());
std::shared_ptr<EfficientNet> efficientnet_b3(int64_t num_classes = 1000,
                                              Generator& gen = default_generator());
std::shared_ptr<EfficientNet> efficientnet_b4(int64_t num_classes = 1000,
                                              Generator& gen = default_generator());
std::shared_ptr<EfficientNet> efficientnet_b5(int64_t num_classes = 1000,
                                              Generator& gen = default_generator());
std::shared_ptr<EfficientNet> efficientnet_b6(int64_t num_classes = 1000,
                                              Generator& gen = default_generator());
std::shared_ptr<EfficientNet> efficientnet_b7(int64_t num_classes = 1000,
                                              Generator& gen = default_generator());

}  // namespace duet::models
