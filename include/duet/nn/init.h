// Parameter initialisation (torch.nn.init), in place and outside autograd.
//
//   duet::Generator gen(0);
//   auto w = duet::Tensor::empty({64, 3, 7, 7});
//   duet::nn::init::kaiming_normal_(w, 0.0, duet::nn::init::FanMode::fan_out,
//                                   duet::nn::init::Nonlinearity::relu, gen);  // torchvision
//                                   ResNet
//   duet::nn::init::zeros_(bias);
//
// Each function writes into the tensor's storage (so module members and the registry see the
// new values) and returns the same handle.
#pragma once

#include <utility>

#include "duet/random.h"
#include "duet/tensor.h"

namespace duet::nn::init {

enum class FanMode { fan_in, fan_out };
enum class Nonlinearity { linear, conv2d, sigmoid, tanh, relu, leaky_relu, selu };

// PyTorch's calculate_gain; `param` is the leaky_relu negative slope.
double calculate_gain(Nonlinearity nonlinearity, double param = 0.01);
// (fan_in, fan_out) of a weight of rank >= 2: (in * receptive, out * receptive).
std::pair<int64_t, int64_t> fan_in_and_fan_out(const Tensor& t);

Tensor uniform_(const Tensor& t, double lo = 0.0, double hi = 1.0,
                Generator& gen = default_generator());
Tensor normal_(const Tensor& t, double mean = 0.0, double std = 1.0,
               Generator& gen = default_generator());
Tensor constant_(const Tensor& t, double value);
Tensor zeros_(const Tensor& t);
Tensor ones_(const Tensor& t);

// U(-bound, bound), bound = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a).
// PyTorch's defaults (a = 0, fan_in, leaky_relu). Linear/Conv2d use a = sqrt(5).
Tensor kaiming_uniform_(const Tensor& t, double a = 0.0, FanMode mode = FanMode::fan_in,
                        Nonlinearity nonlinearity = Nonlinearity::leaky_relu,
                        Generator& gen = default_generator());
// N(0, std^2), std = gain / sqrt(fan).
Tensor kaiming_normal_(const Tensor& t, double a = 0.0, FanMode mode = FanMode::fan_in,
                       Nonlinearity nonlinearity = Nonlinearity::leaky_relu,
                       Generator& gen = default_generator());
// U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out)).
Tensor xavier_uniform_(const Tensor& t, double gain = 1.0, Generator& gen = default_generator());

}  // namespace duet::nn::init
