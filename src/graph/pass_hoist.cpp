// hoist (eval graphs): marks the op nodes whose value depends on captures only (Node::hoisted).
// The executor computes them once, outside the arena, and again only when a capture they read
// has a new storage version, instead of on every run.
//
//   %1 = capture param  -> (16, 3, 3, 3)              conv weight
//   %7 = mul(%1, %6)    -> (16, 3, 3, 3)  [hoisted]   the conv weight scaled by the batch norm
//   %9 = conv2d_fused(%0, %7, %8) -> (1, 16, 8, 8)    runs every time
#include "graph/passes.h"

namespace duet::detail {

void hoist_constants(PassContext& ctx) {
  GraphData& g = ctx.graph;
  const size_t n = g.nodes.size();
  for (Node& node : g.nodes) node.hoisted = false;
  // A value the graph itself writes in place must be read at its place in the order.
  std::vector<bool> written(n, false);
  for (const Node& node : g.nodes)
    for (size_t k = 0; node.has(OpTrait::mutates) && k < node.inputs.size(); ++k)
      if (has_bit(node.op->mutates_inputs, k)) written[node.inputs[k].node] = true;
  // Deterministic, writing nothing, communicating nothing, written by nothing, and reading
  // only captures or other hoisted values.
  for (size_t i = 0; i < n; ++i) {
    Node& node = g.nodes[i];
    if (node.kind != NodeKind::op || node.dead || node.has(OpTrait::random) ||
        node.has(OpTrait::mutates) || node.has(OpTrait::collective) || node.inputs.empty() ||
        written[i])
      continue;
    bool all = true;
    for (const ValueRef& r : node.inputs)
      all = all && !written[r.node] &&
            (g.nodes[r.node].kind == NodeKind::capture || g.nodes[r.node].hoisted);
    node.hoisted = all;
  }
}

}  // namespace duet::detail
