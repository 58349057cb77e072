// Common-subexpression elimination: op nodes with the same op, attrs and inputs compute the
// same values, so later copies are merged into the first.
//
// Not merged: random ops (each call draws new numbers), ops that write an input in place,
// ops without outputs (side effects), collectives (each one communicates), and nodes whose
// outputs some node writes in place.
// A node that reads a value written in place (a parameter the optimizer updates, a running
// statistic) is merged only with a copy that has no mutating node between the two, so both
// read the same contents.
#include <unordered_map>

#include "graph/passes.h"

namespace duet::detail {
namespace {

size_t mix(size_t h, size_t v) {
  return h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
}

struct Key {
  const Node* node;
  int epoch;  // -1: reads nothing written in place; else mutating nodes before the node
};

bool same(const Key& a, const Key& b) {
  return a.node->op == b.node->op && a.epoch == b.epoch && a.node->inputs == b.node->inputs &&
         a.node->attrs == b.node->attrs;
}

size_t hash_of(const Key& k) {
  size_t h = std::hash<const void*>()(k.node->op);
  h = mix(h, k.node->attrs.hash());
  h = mix(h, static_cast<size_t>(k.epoch + 1));
  for (const ValueRef& r : k.node->inputs)
    h = mix(h, (static_cast<size_t>(r.node) << 8) ^ static_cast<size_t>(r.output));
  return h;
}

}  // namespace

void common_subexpression_elimination(PassContext& ctx) {
  GraphData& g = ctx.graph;
  const size_t n = g.nodes.size();
  const MutationInfo mi = analyze_mutations(g);
  // repl[i]: the node whose outputs replace node i's (i itself when kept).
  std::vector<int32_t> repl(n);
  for (size_t i = 0; i < n; ++i) repl[i] = static_cast<int32_t>(i);
  auto canon = [&](ValueRef r) { return ValueRef{repl[r.node], r.output}; };

  std::unordered_map<size_t, std::vector<Key>> seen;
  bool merged = false;
  for (size_t i = 0; i < n; ++i) {
    Node& nd = g.nodes[i];
    if (nd.dead) continue;
    for (ValueRef& r : nd.inputs) r = canon(r);
    if (nd.kind != NodeKind::op || nd.op->random || nd.mutates() || nd.outputs.empty() ||
        nd.op->has(OpTrait::collective))
      continue;
    bool writes_out = false, reads_written = false;
    for (size_t k = 0; k < nd.outputs.size(); ++k) writes_out = writes_out || mi.written[i][k];
    for (const ValueRef& r : nd.inputs)
      reads_written = reads_written || mi.written[r.node][r.output];
    if (writes_out) continue;
    const Key key{&nd, reads_written ? mi.mutations_before[i] : -1};
    std::vector<Key>& bucket = seen[hash_of(key)];
    const Key* match = nullptr;
    for (const Key& k : bucket)
      if (same(k, key)) match = &k;
    if (!match) {
      bucket.push_back(key);
      continue;
    }
    const int32_t j = static_cast<int32_t>(match->node - g.nodes.data());
    DUET_ASSERT(g.nodes[j].outputs == nd.outputs, "cse: equal nodes %", j, " and %", i,
                " inferred different outputs");
    repl[i] = j;
    nd.dead = true;
    merged = true;
  }
  if (!merged) return;
  for (ValueRef& r : ctx.outputs) r = canon(r);
  for (ValueRef& r : g.gradient_values) r = canon(r);
  std::vector<ValueRef*> keep;
  for (ValueRef& r : ctx.outputs) keep.push_back(&r);
  g.compact(keep);
}

}  // namespace duet::detail
