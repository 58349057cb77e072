// MobileNetV2 (torchvision.models.mobilenetv2): InvertedResidual and the network.
#include "duet/models/mobilenet_v2.h"

#include <array>

#include "duet/ops/elementwise.h"
#include "duet/ops/pool.h"
#include "duet/ops/shape.h"
#include "models/init_util.h"

namespace duet::models {

InvertedResidual::InvertedResidual(int64_t inp, int64_t oup, int64_t stride, int64_t expand_ratio,
                                   Generator& gen)
    : Module("InvertedResidual"), use_res_connect(stride == 1 && inp == oup) {
  DUET_CHECK(stride == 1 || stride == 2, "InvertedResidual: stride = ", stride,
             " (expected 1 or 2)");
  const int64_t hidden = inp * expand_ratio;  // int(round(inp * expand_ratio))
  conv = register_module("conv", std::make_shared<nn::Sequential>());
  if (expand_ratio != 1)
    conv->push_back(
        std::make_shared<Conv2dNormActivation>(inp, hidden, 1, 1, 1, Activation::relu6, gen));
  conv->push_back(std::make_shared<Conv2dNormActivation>(hidden, hidden, 3, stride, hidden,
                                                         Activation::relu6, gen));
  conv->push_back(std::make_shared<nn::Conv2d>(hidden, oup, 1, Conv2dOptions{}, false, gen));
  conv->push_back(std::make_shared<nn::BatchNorm2d>(oup));
}

Tensor InvertedResidual::forward(const Tensor& x) {
  return use_res_connect ? add(x, (*conv)(x)) : (*conv)(x);
}

MobileNetV2::MobileNetV2(int64_t num_classes, double dropout, Generator& gen)
    : Module("MobileNetV2") {
  DUET_CHECK(num_classes >= 1, "MobileNetV2: num_classes = ", num_classes, " (expected >= 1)");
  // t (expansion), c (channels), n (repeats), s (first stride)
  const std::array<std::array<int64_t, 4>, 7> setting = {{{1, 16, 1, 1},
                                                          {6, 24, 2, 2},
                                                          {6, 32, 3, 2},
                                                          {6, 64, 4, 2},
                                                          {6, 96, 3, 1},
                                                          {6, 160, 3, 2},
                                                          {6, 320, 1, 1}}};
  const int64_t round_nearest = 8;
  int64_t input_channel = make_divisible(32, round_nearest);
  const int64_t last_channel = make_divisible(1280, round_nearest);
  features = register_module("features", std::make_shared<nn::Sequential>());
  features->push_back(
      std::make_shared<Conv2dNormActivation>(3, input_channel, 3, 2, 1, Activation::relu6, gen));
  for (const auto& [t, c, n, s] : setting) {
    const int64_t output_channel = make_divisible(static_cast<double>(c), round_nearest);
    for (int64_t i = 0; i < n; ++i) {
      features->push_back(std::make_shared<InvertedResidual>(input_channel, output_channel,
                                                             i == 0 ? s : 1, t, gen));
      input_channel = output_channel;
    }
  }
  features->push_back(std::make_shared<Conv2dNormActivation>(input_channel, last_channel, 1, 1, 1,
                                                             Activation::relu6, gen));
  classifier = register_module("classifier", std::make_shared<nn::Sequential>());
  classifier->push_back(std::make_shared<nn::Dropout>(dropout));
  classifier->push_back(std::make_shared<nn::Linear>(last_channel, num_classes, true, gen));
  detail::init_weights(*this, detail::LinearInit::normal_0_01, gen);
}

Tensor MobileNetV2::forward(const Tensor& x) {
  Tensor y = (*features)(x);                       // (N, 1280, H/32, W/32)
  y = flatten(adaptive_avg_pool2d(y, {1, 1}), 1);  // (N, 1280)
  return (*classifier)(y);                         // (N, num_classes)
}

std::shared_ptr<MobileNetV2> mobilenet_v2(int64_t num_classes, Generator& gen) {
  return std::make_shared<MobileNetV2>(num_classes, 0.2, gen);
}

}  // namespace duet::models
