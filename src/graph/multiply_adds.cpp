// duet::multiply_adds: the multiply-accumulate count of a recorded graph (graph.h).
#include <string>

#include "duet/graph.h"
#include "graph/ir.h"

namespace duet {
namespace {

// MACs of one node; 0 for ops that are not convolutions or matrix products.
int64_t node_macs(const detail::GraphData& g, const detail::Node& node) {
  if (node.kind != detail::NodeKind::op || node.dead) return 0;
  const std::string& name = node.op->name;
  auto in = [&](size_t i) -> const Shape& { return g.meta(node.inputs[i]).shape; };
  const bool conv = name == "conv2d" || name == "conv2d_fused";
  if (conv || name == "conv2d_backward_input") {
    // conv2d: x (N, C, H, W), w (O, C/g, KH, KW) -> y (N, O, OH, OW): numel(y) * C/g * KH * KW
    // backward_input: grad_out (N, O, OH, OW), w -> the same products.
    const Shape& w = in(1);
    const Shape& y = conv ? node.outputs[0].shape : in(0);
    return numel(y) * w[1] * w[2] * w[3];
  }
  if (name == "conv2d_backward_weight") {
    // grad_out (N, O, OH, OW), x -> gw (O, C/g, KH, KW): numel(grad_out) * C/g * KH * KW
    const Shape& gw = node.outputs[0].shape;
    return numel(in(0)) * gw[1] * gw[2] * gw[3];
  }
  if (name == "linear" || name == "linear_fused") {
    // x (..., in), w (out, in) -> y (..., out)
    return numel(node.outputs[0].shape) * in(1)[1];
  }
  if (name == "matmul") {
    // a (..., M, K) @ b (..., K, N) -> (..., M, N); a 1-D a has K = a[0]
    const Shape& a = in(0);
    return numel(node.outputs[0].shape) * a.back();
  }
  return 0;
}

}  // namespace

int64_t multiply_adds(const Graph& graph) {
  const detail::GraphData& g = *graph.data();
  int64_t total = 0;
  for (const detail::Node& node : g.nodes) total += node_macs(g, node);
  return total;
}

}  // namespace duet
