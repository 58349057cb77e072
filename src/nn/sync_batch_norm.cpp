// SyncBatchNorm2d (duet/nn/sync_batch_norm.h): batch statistics over every rank's samples.
#include "duet/nn/sync_batch_norm.h"

#include "duet/autograd.h"
#include "duet/distributed.h"
#include "duet/graph.h"
#include "duet/ops.h"

namespace duet::nn {

Tensor SyncBatchNorm2d::forward(const Tensor& x) {
  if (!is_training() || distributed::world_size() == 1) return BatchNorm2d::forward(x);
  DUET_CHECK(x.dim() == 4, "SyncBatchNorm2d: input has shape ", shape_str(x.shape()),
             " (expected 4-D input (N, C, H, W))");
  DUET_CHECK(x.size(1) == num_features, "SyncBatchNorm2d: input has shape ", shape_str(x.shape()),
             " with ", x.size(1), " channels (expected num_features = ", num_features, ")");
  DUET_CHECK(!is_tracing(), "SyncBatchNorm2d: graph mode on ", distributed::world_size(),
             " ranks is not supported (expected eager mode, or BatchNorm2d)");
  const int64_t c = num_features;
  const Shape bcast{1, c, 1, 1};
  // Sums over (N, H, W) and the local element count per channel, summed over the ranks.
  const double local_count = static_cast<double>(x.size(0) * x.size(2) * x.size(3));
  Tensor s1 = distributed::all_reduce_sum_autograd(
      concat({sum(x, {0, 2, 3}), Tensor::full({1}, local_count, x.dtype())}, 0));  // (C + 1)
  const double count = s1.slice(0, c, c + 1).item<double>();
  DUET_CHECK(count > 1, "SyncBatchNorm2d: ", count,
             " values per channel over all ranks (expected more than 1 in training)");
  Tensor mean_c = div(s1.slice(0, 0, c), count);  // (C)
  Tensor xc = sub(x, mean_c.reshape(bcast));      // (N, C, H, W)
  Tensor var_c = div(distributed::all_reduce_sum_autograd(sum(mul(xc, xc), {0, 2, 3})), count);
  Tensor y = mul(xc, rsqrt(add(var_c, eps)).reshape(bcast));
  if (affine) y = add(mul(y, weight.reshape(bcast)), bias.reshape(bcast));
  if (track_running_stats) {
    NoGradGuard no_grad;
    increment_(num_batches_tracked);
    const double f =
        momentum ? *momentum : 1.0 / static_cast<double>(num_batches_tracked.item<int64_t>());
    running_mean.copy_(add(mul(running_mean, 1.0 - f), mul(mean_c.detach(), f)));
    running_var.copy_(
        add(mul(running_var, 1.0 - f), mul(var_c.detach(), f * count / (count - 1.0))));
  }
  return y;
}

}  // namespace duet::nn
