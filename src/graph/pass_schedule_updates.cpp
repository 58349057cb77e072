// schedule_updates: run each in-place update as early as its dependencies allow.
//
// An update node m (e.g. adam_step_(W, dW, m, v, lr, step)) depends on the producers of its
// inputs and on every earlier node that reads a value m writes (those must see the old
// value). Moving m to just after the last of these keeps every reader's view of the data
// unchanged: earlier readers still run before m, later readers still run after it.
#include <algorithm>

#include "graph/passes.h"

namespace duet::detail {

void schedule_updates(PassContext& ctx) {
  std::vector<Node>& nodes = ctx.graph.nodes;
  const int32_t n = static_cast<int32_t>(nodes.size());
  // Readers of each node's outputs, in order.
  std::vector<std::vector<int32_t>> readers(n);
  for (int32_t i = 0; i < n; ++i)
    for (const ValueRef& r : nodes[i].inputs) readers[r.node].push_back(i);

  // pos: the (possibly fractional) place of each node in the new order.
  std::vector<double> pos(n);
  for (int32_t i = 0; i < n; ++i) {
    // Captures depend on nothing: they go first, so an update can move before the place
    // where its optimizer state happened to be captured.
    pos[i] = nodes[i].kind == NodeKind::capture ? -1.0 + i * 1e-9 : i;
    const Node& m = nodes[i];
    if (!m.mutates()) continue;
    double ready = -1;
    for (size_t k = 0; k < m.inputs.size(); ++k) {
      const ValueRef r = m.inputs[k];
      ready = std::max(ready, pos[r.node]);
      if (!has_bit(m.op->mutates_inputs, k)) continue;
      for (int32_t reader : readers[r.node])
        if (reader < i) ready = std::max(ready, pos[reader]);
    }
    // Just after its last dependency, keeping moved updates in their original order.
    pos[i] = ready + 0.5 + i * 1e-9;
  }
  std::vector<int32_t> order(n);
  for (int32_t i = 0; i < n; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return pos[a] < pos[b]; });
  permute_nodes(ctx, order);
}

}  // namespace duet::detail
