// Building blocks shared by the zoo's families (torchvision.ops.misc and models/_utils.py).
//
//   duet::Generator gen(0);
//   using duet::models::Activation;
//   duet::models::Conv2dNormActivation stem(3, 32, 3, /*stride=*/2, /*groups=*/1,
//                                           Activation::silu, gen);
//   auto y = stem(x);                        // x: (N, 3, H, W) -> (N, 32, H/2, W/2)
//   duet::models::SqueezeExcitation se(96, 4, Activation::silu, gen);   // (N, 96, H, W) same
//   duet::models::make_divisible(32 * 1.1, 8);                         // 32
#pragma once

#include <cstdint>
#include <memory>

#include "duet/nn.h"

namespace duet::models {

enum class Activation { none, relu, relu6, silu };

// nn::ReLU / ReLU6 / SiLU; nullptr for Activation::none.
std::shared_ptr<nn::Module> make_activation(Activation activation);

// BatchNorm2d hyper-parameters (torchvision's norm_layer partials).
struct BatchNormOptions {
  double eps = 1e-5;
  double momentum = 0.1;
};

// torchvision's _make_divisible: v rounded to the nearest multiple of `divisor` (at least
// min_value, default divisor), never more than 10% below v.
int64_t make_divisible(double v, int64_t divisor, int64_t min_value = 0);

// torchvision.ops.Conv2dNormActivation: a Sequential of Conv2d (padding (kernel - 1) / 2,
// no bias) [0], BatchNorm2d [1] and, unless Activation::none, the activation [2].
//   x: (N, in, H, W) -> (N, out, ceil(H / stride), ceil(W / stride)) for odd kernels
class Conv2dNormActivation : public nn::Sequential {
 public:
  Conv2dNormActivation(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
                       int64_t stride, int64_t groups, Activation activation, Generator& gen,
                       const BatchNormOptions& norm = {});
  int64_t out_channels;
};

// torchvision.ops.SqueezeExcitation: x * sigmoid(fc2(act(fc1(avgpool(x))))), fc1/fc2 1x1
// convolutions with bias. Children: avgpool, fc1, fc2, activation, scale_activation.
//   x: (N, C, H, W) -> (N, C, H, W); the scale is (N, C, 1, 1)
class SqueezeExcitation : public nn::Module {
 public:
  SqueezeExcitation(int64_t input_channels, int64_t squeeze_channels, Activation activation,
                    Generator& gen);
  Tensor forward(const Tensor& x) override;

  std::shared_ptr<nn::AdaptiveAvgPool2d> avgpool;
  std::shared_ptr<nn::Conv2d> fc1, fc2;  // (squeeze, C, 1, 1), (C, squeeze, 1, 1)
  std::shared_ptr<nn::Module> activation, scale_activation;
};

}  // namespace duet::models
