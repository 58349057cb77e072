// Helpers shared by the optimisation passes: mutation analysis, emitting nodes with the
// public ops, and moving appended nodes into topological position.
#include <unordered_set>

#include "graph/passes.h"

namespace duet::detail {

MutationInfo analyze_mutations(const GraphData& g) {
  const size_t n = g.nodes.size();
  MutationInfo mi;
  mi.written.resize(n);
  mi.mutations_before.assign(n + 1, 0);
  for (size_t i = 0; i < n; ++i) {
    mi.written[i].assign(g.nodes[i].outputs.size(), false);
    mi.mutations_before[i + 1] = mi.mutations_before[i] + (g.nodes[i].mutates() ? 1 : 0);
  }
  if (mi.mutations_before[n] == 0) return mi;

  // Written values, traced back through views to the value they alias.
  std::unordered_set<const Storage*> storages;
  for (const Node& m : g.nodes) {
    if (m.dead || !m.mutates()) continue;
    for (size_t k = 0; k < m.inputs.size(); ++k) {
      if (!has_bit(m.op->mutates_inputs, k)) continue;
      ValueRef v = m.inputs[k];
      while (true) {
        mi.written[v.node][v.output] = true;
        const Node& src = g.nodes[v.node];
        if (src.kind == NodeKind::capture && src.captured.defined() && src.captured.impl()->storage)
          storages.insert(src.captured.impl()->storage.get());
        if (src.kind != NodeKind::op || !src.op->view || src.inputs.empty()) break;
        v = src.inputs[0];
      }
    }
  }
  // Captures sharing a written storage, and views of written values.
  for (size_t i = 0; i < n; ++i) {
    const Node& nd = g.nodes[i];
    if (nd.kind == NodeKind::capture) {
      if (nd.captured.defined() && nd.captured.impl()->storage &&
          storages.count(nd.captured.impl()->storage.get()))
        mi.written[i][0] = true;
    } else if (nd.kind == NodeKind::op && nd.op->view && !nd.inputs.empty() &&
               mi.written[nd.inputs[0].node][nd.inputs[0].output]) {
      for (size_t k = 0; k < nd.outputs.size(); ++k) mi.written[i][k] = true;
    }
  }
  return mi;
}

void emit_into(GraphData& g, const SourceLoc& loc_ref, const std::function<void()>& emit) {
  // A copy: `loc_ref` usually lives in g.nodes, which emit() may reallocate.
  const SourceLoc loc = loc_ref;
  const size_t first = g.nodes.size();
  std::shared_ptr<GraphData> self = g.shared_from_this();
  struct Restore {
    std::shared_ptr<GraphData> g;
    bool was;
    ~Restore() {
      pop_recording(g.get());
      g->building = was;
    }
  } restore{self, g.building};
  g.building = true;
  push_recording(self);
  emit();
  for (size_t i = first; i < g.nodes.size(); ++i) g.nodes[i].loc = loc;
}

void replace_value(PassContext& ctx, ValueRef from, ValueRef to) {
  replace_uses(ctx, from, to);
  for (ValueRef& r : ctx.graph.gradient_values)
    if (r == from) r = to;
}

void permute_nodes(PassContext& ctx, const std::vector<int32_t>& order) {
  std::vector<Node>& nodes = ctx.graph.nodes;
  const size_t n = nodes.size();
  DUET_ASSERT(order.size() == n, "permute_nodes: order of ", order.size(), " for ", n, " nodes");
  std::vector<int32_t> remap(n);
  for (size_t k = 0; k < n; ++k) remap[order[k]] = static_cast<int32_t>(k);
  std::vector<Node> sorted;
  sorted.reserve(n);
  for (int32_t i : order) sorted.push_back(std::move(nodes[i]));
  for (Node& nd : sorted)
    for (ValueRef& r : nd.inputs) r.node = remap[r.node];
  for (ValueRef& r : ctx.outputs) r.node = remap[r.node];
  for (ValueRef& r : ctx.graph.gradient_values) r.node = remap[r.node];
  nodes = std::move(sorted);
  for (auto& [impl, id] : ctx.graph.capture_of) id = remap[id];
}

void reorder_topologically(PassContext& ctx, size_t first_new) {
  std::vector<Node>& nodes = ctx.graph.nodes;
  const size_t n = nodes.size();
  if (first_new >= n) return;
  const int32_t end = static_cast<int32_t>(first_new);  // anchor "after every old node"
  // anchor[j]: the old node a new node j goes just before (its first user, directly or
  // through other new nodes). New nodes only read earlier nodes, so one backward sweep works.
  std::vector<int32_t> anchor(n, end);
  for (size_t i = 0; i < n; ++i) {
    if (nodes[i].dead) continue;
    for (const ValueRef& r : nodes[i].inputs) {
      if (static_cast<size_t>(r.node) < first_new) continue;
      if (i < first_new) anchor[r.node] = std::min(anchor[r.node], static_cast<int32_t>(i));
    }
  }
  for (size_t j = n; j-- > first_new;) {
    if (nodes[j].dead) continue;
    for (const ValueRef& r : nodes[j].inputs)
      if (static_cast<size_t>(r.node) >= first_new)
        anchor[r.node] = std::min(anchor[r.node], anchor[j]);
  }
  for (size_t j = first_new; j < n; ++j)
    for (const ValueRef& r : nodes[j].inputs)
      DUET_ASSERT(static_cast<size_t>(r.node) >= first_new || r.node < anchor[j],
                  "reorder_topologically: new node %", j, " (", nodes[j].label(), ") reads node %",
                  r.node, " which comes after its first user %", anchor[j]);

  std::vector<std::vector<int32_t>> before(first_new + 1);
  for (size_t j = first_new; j < n; ++j) before[anchor[j]].push_back(static_cast<int32_t>(j));
  std::vector<int32_t> order;
  order.reserve(n);
  for (size_t i = 0; i <= first_new; ++i) {
    for (int32_t j : before[i]) order.push_back(j);
    if (i < first_new) order.push_back(static_cast<int32_t>(i));
  }
  permute_nodes(ctx, order);
}

}  // namespace duet::detail
