// Activation modules and Dropout: thin wrappers over the ops.
#include "duet/nn/activation.h"

#include "duet/nn/dropout.h"
#include "duet/ops/activation.h"
#include "duet/ops/random.h"
#include "nn/repr_util.h"

namespace duet::nn {

Tensor ReLU::forward(const Tensor& x) {
  return relu(x);
}
Tensor ReLU6::forward(const Tensor& x) {
  return relu6(x);
}
Tensor LeakyReLU::forward(const Tensor& x) {
  return leaky_relu(x, negative_slope);
}
std::string LeakyReLU::extra_repr() const {
  return "negative_slope=" + detail::num_str(negative_slope);
}
Tensor Sigmoid::forward(const Tensor& x) {
  return sigmoid(x);
}
Tensor Tanh::forward(const Tensor& x) {
  return tanh(x);
}
Tensor SiLU::forward(const Tensor& x) {
  return silu(x);
}
Tensor Hardsigmoid::forward(const Tensor& x) {
  return hardsigmoid(x);
}
Tensor Hardswish::forward(const Tensor& x) {
  return hardswish(x);
}
Tensor GELU::forward(const Tensor& x) {
  return gelu(x, tanh_approximation);
}
std::string GELU::extra_repr() const {
  return std::string("approximate='") + (tanh_approximation ? "tanh" : "none") + "'";
}
Tensor Softplus::forward(const Tensor& x) {
  return softplus(x, beta, threshold);
}
std::string Softplus::extra_repr() const {
  return "beta=" + detail::num_str(beta) + ", threshold=" + detail::num_str(threshold);
}

Dropout::Dropout(double p_, Generator& gen) : Module("Dropout"), p(p_), gen_(&gen) {
  DUET_CHECK(p >= 0.0 && p <= 1.0, "Dropout: p = ", p, " (expected a probability in [0, 1])");
}
Tensor Dropout::forward(const Tensor& x) {
  return dropout(x, p, is_training(), *gen_);
}
std::string Dropout::extra_repr() const {
  return "p=" + detail::num_str(p);
}

}  // namespace duet::nn
