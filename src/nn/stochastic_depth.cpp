// StochasticDepth: x * mask, the mask drawn by dropout on a tensor of ones.
#include "duet/nn/stochastic_depth.h"

#include <utility>

#include "duet/ops/elementwise.h"
#include "duet/ops/random.h"
#include "nn/repr_util.h"

namespace duet::nn {

StochasticDepth::StochasticDepth(double p_, std::string mode_, Generator& gen)
    : Module("StochasticDepth"), p(p_), mode(std::move(mode_)), gen_(&gen) {
  DUET_CHECK(p >= 0.0 && p <= 1.0, "StochasticDepth: p = ", p,
             " (expected a drop probability in [0, 1])");
  DUET_CHECK(mode == "row" || mode == "batch", "StochasticDepth: mode = '", mode,
             "' (expected 'row' or 'batch')");
}

Tensor StochasticDepth::forward(const Tensor& x) {
  if (!is_training() || p == 0.0) return x;
  DUET_CHECK(x.dim() >= 1, "StochasticDepth: input has shape ", shape_str(x.shape()),
             " (expected at least one axis, the batch)");
  // The mask's shape is static even for a symbolic x: (N, 1, ..., 1) or (1, ..., 1).
  Shape mask_shape(static_cast<size_t>(x.dim()), 1);
  if (mode == "row") mask_shape[0] = x.size(0);
  // dropout(ones) is 0 with probability p and 1 / (1 - p) otherwise (all 0 when p == 1),
  // torchvision's bernoulli_(1 - p).div_(1 - p).
  const Tensor mask =
      dropout(Tensor::ones(mask_shape, x.dtype(), x.device()), p, /*training=*/true, *gen_);
  return mul(x, mask);
}

std::string StochasticDepth::extra_repr() const {
  return "p=" + detail::num_str(p) + ", mode=" + mode;
}

}  // namespace duet::nn
