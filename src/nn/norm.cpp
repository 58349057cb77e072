// BatchNorm2d: parameters/buffers with PyTorch names; the math is the batch_norm op.
#include "duet/nn/norm.h"

#include "duet/autograd.h"
#include "duet/graph.h"
#include "duet/ops/inplace.h"
#include "duet/ops/norm.h"
#include "nn/repr_util.h"

namespace duet::nn {

BatchNorm2d::BatchNorm2d(int64_t c, double eps_, std::optional<double> momentum_, bool affine_,
                         bool track)
    : Module("BatchNorm2d"),
      num_features(c),
      eps(eps_),
      momentum(momentum_),
      affine(affine_),
      track_running_stats(track) {
  DUET_CHECK(c > 0, "BatchNorm2d: num_features = ", c, " (expected > 0)");
  DUET_CHECK(eps > 0, "BatchNorm2d: eps = ", eps, " (expected > 0)");
  if (affine) {
    weight = register_parameter("weight", Tensor::ones({c}));
    bias = register_parameter("bias", Tensor::zeros({c}));
  }
  if (track) {
    running_mean = register_buffer("running_mean", Tensor::zeros({c}));
    running_var = register_buffer("running_var", Tensor::ones({c}));
    num_batches_tracked = register_buffer("num_batches_tracked", Tensor::zeros({}, int64));
    // Exported checkpoints often lack it; PyTorch loads them with the counter at 0.
    set_buffer_optional("num_batches_tracked");
  }
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  DUET_CHECK(x.dim() == 4, "BatchNorm2d: input has shape ", shape_str(x.shape()),
             " (expected 4-D input (N, C, H, W))");
  DUET_CHECK(x.size(1) == num_features, "BatchNorm2d: input has shape ", shape_str(x.shape()),
             " with ", x.size(1), " channels (expected num_features = ", num_features, ")");
  // PyTorch's nn.BatchNorm2d.forward.
  // The counter is bumped by an in-place op, so a compiled training graph bumps it each run
  // (no host value read at build time).
  double factor = momentum.value_or(0.0);
  if (is_training() && track_running_stats) {
    DUET_CHECK(momentum || !is_tracing(),
               "BatchNorm2d: momentum = None (cumulative moving average) is not supported in "
               "graph mode: its factor 1 / num_batches_tracked would be frozen at build time "
               "(expected a numeric momentum, e.g. 0.1)");
    NoGradGuard no_grad;
    increment_(num_batches_tracked);
    if (!momentum) factor = 1.0 / static_cast<double>(num_batches_tracked.item<int64_t>());
  }
  const bool use_batch_stats = is_training() || !track_running_stats;
  const bool update_running = !is_training() || track_running_stats;
  return batch_norm(x, weight, bias, update_running ? running_mean : Tensor(),
                    update_running ? running_var : Tensor(), use_batch_stats, factor, eps);
}

std::string BatchNorm2d::extra_repr() const {
  return std::to_string(num_features) + ", eps=" + detail::num_str(eps) +
         ", momentum=" + (momentum ? detail::num_str(*momentum) : std::string("None")) +
         ", affine=" + detail::py_bool(affine) +
         ", track_running_stats=" + detail::py_bool(track_running_stats);
}

}  // namespace duet::nn
