// EfficientNet B0-B7 (torchvision.models.efficientnet): MBConv, EfficientNet, the variants.
#include "duet/models/efficientnet.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "duet/ops/elementwise.h"
#include "duet/ops/shape.h"
#include "models/init_util.h"

namespace duet::models {

MBConvConfig MBConvConfig::scaled(double expand_ratio, int64_t kernel, int64_t stride,
                                  int64_t input_channels, int64_t out_channels, int64_t num_layers,
                                  double width_mult, double depth_mult) {
  auto channels = [&](int64_t c) { return make_divisible(static_cast<double>(c) * width_mult, 8); };
  const auto layers = static_cast<int64_t>(std::ceil(static_cast<double>(num_layers) * depth_mult));
  return {expand_ratio, kernel, stride, channels(input_channels), channels(out_channels), layers};
}

MBConv::MBConv(const MBConvConfig& cnf, double sd_prob, const BatchNormOptions& norm,
               Generator& gen)
    : Module("MBConv"), use_res_connect(cnf.stride == 1 && cnf.input_channels == cnf.out_channels) {
  DUET_CHECK(cnf.stride == 1 || cnf.stride == 2, "MBConv: stride = ", cnf.stride,
             " (expected 1 or 2)");
  const int64_t in = cnf.input_channels;
  const int64_t expanded = make_divisible(static_cast<double>(in) * cnf.expand_ratio, 8);
  block = register_module("block", std::make_shared<nn::Sequential>());
  if (expanded != in)
    block->push_back(
        std::make_shared<Conv2dNormActivation>(in, expanded, 1, 1, 1, Activation::silu, gen, norm));
  block->push_back(std::make_shared<Conv2dNormActivation>(
      expanded, expanded, cnf.kernel, cnf.stride, expanded, Activation::silu, gen, norm));
  block->push_back(std::make_shared<SqueezeExcitation>(expanded, std::max<int64_t>(1, in / 4),
                                                       Activation::silu, gen));
  block->push_back(std::make_shared<Conv2dNormActivation>(expanded, cnf.out_channels, 1, 1, 1,
                                                          Activation::none, gen, norm));
  stochastic_depth =
      register_module("stochastic_depth", std::make_shared<nn::StochasticDepth>(sd_prob, "row"));
}

Tensor MBConv::forward(const Tensor& x) {
  Tensor result = (*block)(x);
  if (use_res_connect) result = add((*stochastic_depth)(result), x);
  return result;
}

EfficientNet::EfficientNet(const std::vector<MBConvConfig>& setting, double dropout,
                           int64_t num_classes, const BatchNormOptions& norm, Generator& gen,
                           double stochastic_depth_prob)
    : Module("EfficientNet") {
  DUET_CHECK(!setting.empty(), "EfficientNet: the inverted residual setting is empty");
  DUET_CHECK(num_classes >= 1, "EfficientNet: num_classes = ", num_classes, " (expected >= 1)");
  features = register_module("features", std::make_shared<nn::Sequential>());
  features->push_back(std::make_shared<Conv2dNormActivation>(3, setting.front().input_channels, 3,
                                                             2, 1, Activation::silu, gen, norm));
  int64_t total_blocks = 0;
  for (const auto& c : setting) total_blocks += c.num_layers;
  int64_t block_id = 0;
  for (const auto& cnf : setting) {
    auto stage = std::make_shared<nn::Sequential>();
    for (int64_t i = 0; i < cnf.num_layers; ++i) {
      MBConvConfig block_cnf = cnf;
      if (i > 0) {
        block_cnf.input_channels = block_cnf.out_channels;
        block_cnf.stride = 1;
      }
      const double sd_prob =
          stochastic_depth_prob * static_cast<double>(block_id) / static_cast<double>(total_blocks);
      stage->push_back(std::make_shared<MBConv>(block_cnf, sd_prob, norm, gen));
      ++block_id;
    }
    features->push_back(stage);
  }
  const int64_t last_in = setting.back().out_channels;
  const int64_t last_out = 4 * last_in;
  features->push_back(std::make_shared<Conv2dNormActivation>(last_in, last_out, 1, 1, 1,
                                                             Activation::silu, gen, norm));
  avgpool = register_module("avgpool", std::make_shared<nn::AdaptiveAvgPool2d>(1));
  classifier = register_module("classifier", std::make_shared<nn::Sequential>());
  classifier->push_back(std::make_shared<nn::Dropout>(dropout));
  classifier->push_back(std::make_shared<nn::Linear>(last_out, num_classes, true, gen));
  detail::init_weights(*this, detail::LinearInit::uniform_out, gen);
}

Tensor EfficientNet::forward(const Tensor& x) {
  Tensor y = flatten((*avgpool)((*features)(x)), 1);  // (N, C)
  return (*classifier)(y);                            // (N, num_classes)
}

std::shared_ptr<EfficientNet> efficientnet(int variant, int64_t num_classes, Generator& gen) {
  DUET_CHECK(variant >= 0 && variant <= 7, "efficientnet: variant = ", variant,
             " (expected 0..7 for efficientnet_b0 ... efficientnet_b7)");
  // torchvision's efficientnet_bN: (width_mult, depth_mult, dropout).
  constexpr std::array<std::array<double, 3>, 8> kVariants = {{{1.0, 1.0, 0.2},
                                                               {1.0, 1.1, 0.2},
                                                               {1.1, 1.2, 0.3},
                                                               {1.2, 1.4, 0.3},
                                                               {1.4, 1.8, 0.4},
                                                               {1.6, 2.2, 0.4},
                                                               {1.8, 2.6, 0.5},
                                                               {2.0, 3.1, 0.5}}};
  const auto [w, d, dropout] = kVariants[static_cast<size_t>(variant)];
  auto conf = [&](double t, int64_t k, int64_t s, int64_t in, int64_t out, int64_t n) {
    return MBConvConfig::scaled(t, k, s, in, out, n, w, d);
  };
  const std::vector<MBConvConfig> setting = {
      conf(1, 3, 1, 32, 16, 1),   conf(6, 3, 2, 16, 24, 2),  conf(6, 5, 2, 24, 40, 2),
      conf(6, 3, 2, 40, 80, 3),   conf(6, 5, 1, 80, 112, 3), conf(6, 5, 2, 112, 192, 4),
      conf(6, 3, 1, 192, 320, 1),
  };
  // B5-B7: norm_layer=partial(nn.BatchNorm2d, eps=0.001, momentum=0.01).
  const BatchNormOptions norm = variant >= 5 ? BatchNormOptions{1e-3, 0.01} : BatchNormOptions{};
  return std::make_shared<EfficientNet>(setting, dropout, num_classes, norm, gen);
}

std::shared_ptr<EfficientNet> efficientnet_b0(int64_t n, Generator& gen) {
  return efficientnet(0, n, gen);
}
std::shared_ptr<EfficientNet> efficientnet_b1(int64_t n, Generator& gen) {
  return efficientnet(1, n, gen);
}
std::shared_ptr<EfficientNet> efficientnet_b2(int64_t n, Generator& gen) {
  return efficientnet(2, n, gen);
}
std::shared_ptr<EfficientNet> efficientnet_b3(int64_t n, Generator& gen) {
  return efficientnet(3, n, gen);
}
std::shared_ptr<EfficientNet> efficientnet_b4(int64_t n, Generator& gen) {
  return efficientnet(4, n, gen);
}
std::shared_ptr<EfficientNet> efficientnet_b5(int64_t n, Generator& gen) {
  return efficientnet(5, n, gen);
}
std::shared_ptr<EfficientNet> efficientnet_b6(int64_t n, Generator& gen) {
  return efficientnet(6, n, gen);
}
std::shared_ptr<EfficientNet> efficientnet_b7(int64_t n, Generator& gen) {
  return efficientnet(7, n, gen);
}

}  // namespace duet::models
