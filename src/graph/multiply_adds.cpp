// duet::multiply_adds: the multiply-accumulate count of a recorded graph (graph.h), the sum
// of each op's own rule (OpDef::macs).
#include "duet/graph.h"
#include "graph/ir.h"

namespace duet {

int64_t multiply_adds(const Graph& graph) {
  const detail::GraphData& g = *graph.data();
  int64_t total = 0;
  std::vector<TensorMeta> in;
  for (const detail::Node& node : g.nodes) {
    if (node.kind != detail::NodeKind::op || node.dead || !node.op->macs) continue;
    in.clear();
    for (const detail::ValueRef& r : node.inputs) in.push_back(g.meta(r));
    total += node.op->macs(in, node.outputs, node.attrs);
  }
  return total;
}

}  // namespace duet
