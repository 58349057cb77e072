// Linear, Flatten.
#include "duet/nn/linear.h"

#include <cmath>

#include "duet/nn/init.h"
#include "duet/ops/linalg.h"
#include "duet/ops/shape.h"
#include "nn/repr_util.h"

namespace duet::nn {

Linear::Linear(int64_t in, int64_t out, bool with_bias, Generator& gen)
    : Module("Linear"), in_features(in), out_features(out) {
  DUET_CHECK(in > 0 && out > 0, "Linear: in_features = ", in, ", out_features = ", out,
             " (expected both > 0)");
  weight = register_parameter("weight", Tensor::empty({out, in}));
  init::kaiming_uniform_(weight, std::sqrt(5.0), init::FanMode::fan_in,
                         init::Nonlinearity::leaky_relu, gen);
  if (with_bias) {
    bias = register_parameter("bias", Tensor::empty({out}));
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    init::uniform_(bias, -bound, bound, gen);
  }
}

Tensor Linear::forward(const Tensor& x) {
  DUET_CHECK(x.dim() >= 1 && x.size(-1) == in_features, "Linear: input has shape ",
             shape_str(x.shape()), " (expected the last axis to be in_features = ", in_features,
             ")");
  return linear(x, weight, bias);
}

std::string Linear::extra_repr() const {
  return "in_features=" + std::to_string(in_features) +
         ", out_features=" + std::to_string(out_features) +
         ", bias=" + detail::py_bool(bias.defined());
}

Flatten::Flatten(int64_t start, int64_t end)
    : Module("Flatten"), start_axis(start), end_axis(end) {}

Tensor Flatten::forward(const Tensor& x) {
  return flatten(x, start_axis, end_axis);
}

std::string Flatten::extra_repr() const {
  return "start_dim=" + std::to_string(start_axis) + ", end_dim=" + std::to_string(end_axis);
}

}  // namespace duet::nn
