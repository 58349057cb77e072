// Graph mode's gradient all-reduce: per bucket, the gradients packed into one flat buffer, an
// all_reduce_start / all_reduce_wait pair (src/ops/collective_ops.cpp) and views of the
// averaged buffer per parameter. Recorded after gradients(), so all of it lands after backward
// in the node list; the schedule pass (src/graph/pass_schedule_collectives.cpp) then moves each
// start up to its bucket's last gradient and each wait down to the first update.
//
//   bucket 0 = params {5, 4} (fc.bias (10), fc.weight (10, 64)):
//   %80 = reshape(dB) -> (10)   %81 = reshape(dW) -> (640)   %82 = concat(%80, %81) -> (650)
//   %83 = all_reduce_start(%82) [op=avg, tag=1, bucket=0] -> (1)
//   %84 = all_reduce_wait(%82, %83) [op=avg, tag=1, bucket=0] -> (650)
//   %85 = slice(%84, 0, 0, 10) -> (10)    %86 = reshape(slice(%84, 0, 10, 650)) -> (10, 64)
#include "distributed/graph_reduce.h"

#include "duet/ops/shape.h"
#include "ops/collective_ops.h"

namespace duet::distributed::detail {

std::vector<Tensor> all_reduce_gradients_graph(
    const std::vector<GradientReducer::BucketInfo>& buckets, const std::vector<Tensor>& params,
    const std::vector<Tensor>& grads) {
  DUET_CHECK(grads.size() == params.size(), "all_reduce_gradients: got ", grads.size(),
             " gradients for ", params.size(), " parameters (expected one per parameter)");
  std::vector<Tensor> out = grads;  // parameters in no bucket keep their gradient
  for (size_t b = 0; b < buckets.size(); ++b) {
    const GradientReducer::BucketInfo& info = buckets[b];
    if (info.params.empty()) continue;
    // (numel_i) per parameter, in bucket order; an undefined gradient: zeros.
    std::vector<Tensor> flat;
    flat.reserve(info.params.size());
    int64_t total = 0;
    for (int64_t i : info.params) {
      DUET_CHECK(i >= 0 && i < static_cast<int64_t>(params.size()), "all_reduce_gradients: bucket ",
                 b, " names parameter ", i, " (expected 0 to ", params.size() - 1, ")");
      const Tensor& p = params[i];
      DUET_CHECK(p.dtype() == info.dtype, "all_reduce_gradients: bucket ", b, " is ", info.dtype,
                 " but parameter ", i, " is ", p.dtype(), " (expected one dtype per bucket)");
      const Tensor& g = grads[i];
      if (g.defined()) {
        DUET_CHECK(g.shape() == p.shape() && g.dtype() == p.dtype(), "all_reduce_gradients: ",
                   "the gradient of parameter ", i, " has shape ", shape_str(g.shape()), " ",
                   g.dtype(), " but the parameter has shape ", shape_str(p.shape()), " ",
                   p.dtype(), " (expected the same)");
        flat.push_back(reshape(g, {p.numel()}));
      } else {
        flat.push_back(Tensor::zeros({p.numel()}, p.dtype(), p.device()));
      }
      total += p.numel();
    }
    DUET_CHECK(info.numel == 0 || info.numel == total, "all_reduce_gradients: bucket ", b,
               " says ", info.numel, " elements but its parameters have ", total);
    // A fresh buffer even for one parameter: the start writes it in place, and nobody else
    // may read it between the start and the wait.
    const Tensor bucket = flat.size() == 1 ? clone(flat[0]) : concat(flat, 0);
    const int64_t tag = new_collective_tag();
    const int64_t index = static_cast<int64_t>(b);
    const Tensor token = all_reduce_start(bucket, ReduceOp::avg, tag, index);
    const Tensor reduced = all_reduce_wait(bucket, token, ReduceOp::avg, tag, index);
    int64_t offset = 0;
    for (int64_t i : info.params) {
      const Tensor& p = params[i];
      out[i] = reshape(slice(reduced, 0, offset, offset + p.numel()), p.shape());
      offset += p.numel();
    }
  }
  return out;
}

}  // namespace duet::distributed::detail
