// Conv2dNormActivation, SqueezeExcitation, make_divisible (torchvision.ops.misc, _utils.py).
#include "duet/models/blocks.h"

#include <algorithm>

#include "duet/ops/elementwise.h"

namespace duet::models {

std::shared_ptr<nn::Module> make_activation(Activation activation) {
  switch (activation) {
    case Activation::none:
      return nullptr;
    case Activation::relu:
      return std::make_shared<nn::ReLU>();
    case Activation::relu6:
      return std::make_shared<nn::ReLU6>();
    case Activation::silu:
      return std::make_shared<nn::SiLU>();
  }
  return nullptr;
}

int64_t make_divisible(double v, int64_t divisor, int64_t min_value) {
  DUET_CHECK(divisor > 0, "make_divisible: divisor = ", divisor, " (expected > 0)");
  if (min_value <= 0) min_value = divisor;
  // Python: max(min_value, int(v + divisor / 2) // divisor * divisor)
  const auto rounded = static_cast<int64_t>(v + static_cast<double>(divisor) / 2.0);
  int64_t new_v = std::max(min_value, rounded / divisor * divisor);
  if (static_cast<double>(new_v) < 0.9 * v) new_v += divisor;
  return new_v;
}

Conv2dNormActivation::Conv2dNormActivation(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                                           int64_t groups, Activation activation, Generator& gen,
                                           const BatchNormOptions& norm)
    : nn::Sequential("Conv2dNormActivation"), out_channels(out) {
  const int64_t pad = (kernel - 1) / 2;
  const Conv2dOptions opt{.stride = {stride, stride}, .padding = {pad, pad}, .groups = groups};
  push_back(std::make_shared<nn::Conv2d>(in, out, kernel, opt, /*bias=*/false, gen));
  push_back(std::make_shared<nn::BatchNorm2d>(out, norm.eps, norm.momentum));
  if (auto act = make_activation(activation)) push_back(std::move(act));
}

SqueezeExcitation::SqueezeExcitation(int64_t input_channels, int64_t squeeze_channels,
                                     Activation act, Generator& gen)
    : Module("SqueezeExcitation") {
  DUET_CHECK(act != Activation::none, "SqueezeExcitation: expected an activation");
  avgpool = register_module("avgpool", std::make_shared<nn::AdaptiveAvgPool2d>(1));
  fc1 = register_module("fc1", std::make_shared<nn::Conv2d>(input_channels, squeeze_channels, 1,
                                                            Conv2dOptions{}, true, gen));
  fc2 = register_module("fc2", std::make_shared<nn::Conv2d>(squeeze_channels, input_channels, 1,
                                                            Conv2dOptions{}, true, gen));
  activation = register_module("activation", make_activation(act));
  scale_activation = register_module("scale_activation", std::make_shared<nn::Sigmoid>());
}

Tensor SqueezeExcitation::forward(const Tensor& x) {
  Tensor scale = (*avgpool)(x);  // (N, C, 1, 1)
  scale = (*scale_activation)((*fc2)((*activation)((*fc1)(scale))));
  return mul(scale, x);  // (N, C, H, W)
}

}  // namespace duet::models
