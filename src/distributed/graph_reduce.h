// Graph mode's gradient all-reduce (part of GradientReducer::all_reduce_gradients, which
// calls this when the gradients are symbolic).
#pragma once

#include <vector>

#include "duet/distributed/ddp.h"

namespace duet::distributed::detail {

// For each bucket: flatten its gradients (an undefined gradient: zeros of the parameter's
// shape) into one buffer, an all_reduce_start node (average over the ranks), an
// all_reduce_wait node, and views of the result per parameter. Returns one symbolic gradient
// per parameter (same order as params). The compiler's schedule pass moves each start (and
// the flatten feeding it) right after its bucket's last gradient.
std::vector<Tensor> all_reduce_gradients_graph(
    const std::vector<GradientReducer::BucketInfo>& buckets, const std::vector<Tensor>& params,
    const std::vector<Tensor>& grads);

}  // namespace duet::distributed::detail
