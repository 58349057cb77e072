// torch.nn.init equivalents: draw on the host from a Generator, copy into the tensor.
#include "duet/nn/init.h"

#include <cmath>

#include "duet/autograd.h"

namespace duet::nn::init {
namespace {

void check_floating(const Tensor& t, const char* fn) {
  DUET_CHECK(t.defined(), fn, ": tensor is undefined");
  DUET_CHECK(is_floating(t.dtype()), fn, ": tensor has dtype ", t.dtype(),
             " (expected float32 or float64)");
}

Tensor write(const Tensor& t, const Tensor& values) {
  NoGradGuard no_grad;
  Tensor dst = t;  // a handle to the same storage
  dst.copy_(values);
  return t;
}

double fan(const Tensor& t, FanMode mode, const char* fn) {
  DUET_CHECK(t.dim() >= 2, fn, ": tensor has shape ", shape_str(t.shape()),
             " (expected rank >= 2 to compute fan in and fan out)");
  auto [in, out] = fan_in_and_fan_out(t);
  int64_t f = mode == FanMode::fan_in ? in : out;
  DUET_CHECK(f > 0, fn, ": tensor of shape ", shape_str(t.shape()), " has a zero fan");
  return static_cast<double>(f);
}

}  // namespace

double calculate_gain(Nonlinearity nonlinearity, double param) {
  switch (nonlinearity) {
    case Nonlinearity::linear:
    case Nonlinearity::conv2d:
    case Nonlinearity::sigmoid:
      return 1.0;
    case Nonlinearity::tanh:
      return 5.0 / 3.0;
    case Nonlinearity::relu:
      return std::sqrt(2.0);
    case Nonlinearity::leaky_relu:
      return std::sqrt(2.0 / (1.0 + param * param));
    case Nonlinearity::selu:
      return 3.0 / 4.0;
  }
  return 1.0;
}

std::pair<int64_t, int64_t> fan_in_and_fan_out(const Tensor& t) {
  DUET_CHECK(t.dim() >= 2, "fan_in_and_fan_out: tensor has shape ", shape_str(t.shape()),
             " (expected rank >= 2)");
  int64_t receptive = 1;
  for (int64_t i = 2; i < t.dim(); ++i) receptive *= t.size(i);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

Tensor uniform_(const Tensor& t, double lo, double hi, Generator& gen) {
  check_floating(t, "uniform_");
  return write(t, Tensor::uniform(t.shape(), lo, hi, gen, t.dtype()));
}

Tensor normal_(const Tensor& t, double mean, double std, Generator& gen) {
  check_floating(t, "normal_");
  DUET_CHECK(std >= 0, "normal_: std = ", std, " (expected std >= 0)");
  Tensor z = Tensor::randn(t.shape(), gen, float64);
  double* p = z.data<double>();
  for (int64_t i = 0, n = z.numel(); i < n; ++i) p[i] = mean + std * p[i];
  return write(t, z);
}

Tensor constant_(const Tensor& t, double value) {
  DUET_CHECK(t.defined(), "constant_: tensor is undefined");
  NoGradGuard no_grad;
  Tensor dst = t;
  dst.fill_(value);
  return t;
}
Tensor zeros_(const Tensor& t) {
  return constant_(t, 0.0);
}
Tensor ones_(const Tensor& t) {
  return constant_(t, 1.0);
}

Tensor kaiming_uniform_(const Tensor& t, double a, FanMode mode, Nonlinearity nonlinearity,
                        Generator& gen) {
  check_floating(t, "kaiming_uniform_");
  const double bound =
      calculate_gain(nonlinearity, a) * std::sqrt(3.0 / fan(t, mode, "kaiming_uniform_"));
  return uniform_(t, -bound, bound, gen);
}

Tensor kaiming_normal_(const Tensor& t, double a, FanMode mode, Nonlinearity nonlinearity,
                       Generator& gen) {
  check_floating(t, "kaiming_normal_");
  const double std = calculate_gain(nonlinearity, a) / std::sqrt(fan(t, mode, "kaiming_normal_"));
  return normal_(t, 0.0, std, gen);
}

Tensor xavier_uniform_(const Tensor& t, double gain, Generator& gen) {
  check_floating(t, "xavier_uniform_");
  auto [in, out] = fan_in_and_fan_out(t);
  const double bound = gain * std::sqrt(6.0 / static_cast<double>(in + out));
  return uniform_(t, -bound, bound, gen);
}

}  // namespace duet::nn::init
