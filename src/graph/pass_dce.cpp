// Dead-code elimination and the shared pass helpers.
#include "graph/passes.h"

namespace duet::detail {

void replace_uses(PassContext& ctx, ValueRef from, ValueRef to) {
  for (Node& n : ctx.graph.nodes)
    for (ValueRef& r : n.inputs)
      if (r == from) r = to;
  for (ValueRef& r : ctx.outputs)
    if (r == from) r = to;
}

std::vector<std::vector<int>> count_uses(const PassContext& ctx) {
  std::vector<std::vector<int>> uses(ctx.graph.nodes.size());
  for (size_t i = 0; i < ctx.graph.nodes.size(); ++i)
    uses[i].assign(ctx.graph.nodes[i].outputs.size(), 0);
  for (const Node& n : ctx.graph.nodes) {
    if (n.dead) continue;
    for (const ValueRef& r : n.inputs) uses[r.node][r.output]++;
  }
  for (const ValueRef& r : ctx.outputs) uses[r.node][r.output]++;
  return uses;
}

void dead_code_elimination(PassContext& ctx) {
  std::vector<Node>& nodes = ctx.graph.nodes;
  std::vector<bool> live(nodes.size(), false);
  for (const ValueRef& r : ctx.outputs) live[r.node] = true;
  // Side effects: in-place writes, and collectives (the other ranks wait for them; a start
  // whose wait was removed would leave a transfer writing into a dead buffer).
  for (size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i].mutates() || nodes[i].has(OpTrait::collective)) live[i] = true;
  // Inputs stay: a feed must always be accepted, even if unused.
  for (size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i].kind == NodeKind::input) live[i] = true;
  for (size_t i = nodes.size(); i-- > 0;) {
    if (!live[i] || nodes[i].dead) continue;
    for (const ValueRef& r : nodes[i].inputs) live[r.node] = true;
  }
  std::vector<ValueRef*> keep;
  for (ValueRef& r : ctx.outputs) keep.push_back(&r);
  for (size_t i = 0; i < nodes.size(); ++i)
    if (!live[i]) nodes[i].dead = true;
  ctx.graph.compact(keep);
}

}  // namespace duet::detail
