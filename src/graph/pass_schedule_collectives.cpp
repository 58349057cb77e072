// schedule_collectives: overlap each all-reduce with the compute that does not need it.
//
// graph_reduce records, after the whole backward pass, per gradient bucket:
//   concat(reshape(dW1), reshape(dW2), ...) -> all_reduce_start -> all_reduce_wait -> slices
// and schedule_updates then puts each optimizer update right after the slice it reads. This
// pass moves
//   - each all_reduce_start, together with the packing nodes that only feed it (the concat,
//     reshapes, clones, casts whose every reader is another of them, the start or its wait),
//     to right after the last value they need from the rest of the graph: the bucket's last
//     gradient. The other ranks' gradients then travel while this rank computes
//     the rest of backward;
//   - each all_reduce_wait, with the views that only read it (slices, reshapes: no kernels),
//     to right before the first node that needs the reduced values (an optimizer update), so
//     the wait blocks as late as possible.
//
//   before: ... %30 = conv2d_backward_weight ... (100 more backward nodes) ...
//           %140 = concat(%31, %30) %141 = all_reduce_start(%140) %142 = all_reduce_wait ...
//   after:  ... %30 = conv2d_backward_weight %31 = concat %32 = all_reduce_start ...
//           (100 backward nodes) ... %140 = all_reduce_wait %141 = slice %142 = sgd_step_ ...
//
// Correctness: a start group moves earlier but stays after everything it reads (and after
// every earlier reader of the bucket the start writes); it does not move at all if one of its
// nodes reads a value some other node writes in place (its contents would depend on the
// place). A wait moves later, before every reader of what it produces; nothing else writes
// the bucket (collective_ops.cpp), so the value it waits for is the same.
#include <algorithm>
#include <limits>

#include "graph/passes.h"

namespace duet::detail {
namespace {

constexpr double kTiny = 1e-9;  // tie-breaks that keep the original order among moved nodes

// The ops that pack gradients into a bucket (graph_reduce.cpp): views (reshape), concat,
// clone, cast. Gradient computations themselves stay where backward put them.
bool is_packing(const Node& p) {
  if (p.kind != NodeKind::op || p.dead || p.mutates() || p.op->random) return false;
  return p.op->view || p.is(OpId::concat) || p.is(OpId::clone) || p.is(OpId::cast);
}

}  // namespace

void schedule_collectives(PassContext& ctx) {
  std::vector<Node>& nodes = ctx.graph.nodes;
  const int32_t n = static_cast<int32_t>(nodes.size());
  bool any = false;
  for (const Node& nd : nodes) any = any || nd.is(OpId::all_reduce_start);
  if (!any) return;

  std::vector<std::vector<int32_t>> readers(n);
  for (int32_t i = 0; i < n; ++i)
    for (const ValueRef& r : nodes[i].inputs) readers[r.node].push_back(i);
  std::vector<bool> requested(n, false);
  for (const ValueRef& r : ctx.outputs) requested[r.node] = true;
  const MutationInfo mi = analyze_mutations(ctx.graph);

  std::vector<double> pos(n);
  for (int32_t i = 0; i < n; ++i)  // captures depend on nothing (as in schedule_updates)
    pos[i] = nodes[i].kind == NodeKind::capture ? -1.0 + i * kTiny : i;

  // 1. Starts and their feeders, earlier.
  std::vector<int32_t> group_of(n, -1);
  for (int32_t s = 0; s < n; ++s) {
    if (!nodes[s].is(OpId::all_reduce_start)) continue;
    auto is_own_wait = [&](int32_t r) {
      return nodes[r].is(OpId::all_reduce_wait) && nodes[r].inputs.size() == 2 &&
             nodes[r].inputs[1].node == s;
    };
    std::vector<int32_t> group{s};
    group_of[s] = s;
    for (int32_t j = s - 1; j >= 0; --j) {
      const Node& p = nodes[j];
      if (!is_packing(p) || requested[j] || readers[j].empty()) continue;
      bool feeds = false, only = true;
      for (int32_t r : readers[j]) {
        if (group_of[r] == s)
          feeds = true;
        else if (!(is_own_wait(r) && p.outputs.size() == 1))
          only = false;
      }
      if (feeds && only) {
        group_of[j] = s;
        group.push_back(j);
      }
    }
    double ready = -1;
    bool movable = true;
    for (int32_t x : group) {
      const Node& nd = nodes[x];
      for (size_t k = 0; k < nd.inputs.size(); ++k) {
        const ValueRef r = nd.inputs[k];
        if (group_of[r.node] == s) continue;
        ready = std::max(ready, pos[r.node]);
        if (x == s && has_bit(nd.op->mutates_inputs, k)) {
          // The start writes this value: every earlier reader must still see it unreduced.
          for (int32_t reader : readers[r.node])
            if (reader < s && group_of[reader] != s) ready = std::max(ready, pos[reader]);
        } else if (mi.written[r.node][r.output]) {
          movable = false;  // written in place by another node: its contents depend on the place
        }
      }
    }
    if (!movable || ready + 0.5 >= pos[s]) continue;
    std::sort(group.begin(), group.end());
    for (int32_t x : group) pos[x] = ready + 0.5 + x * kTiny;
  }

  // 2. Waits (with the views that only read them), later.
  for (int32_t w = 0; w < n; ++w) {
    if (!nodes[w].is(OpId::all_reduce_wait) || mi.written[w][0]) continue;
    std::vector<int32_t> tail;  // views reading only w or other tail views, in index order
    std::vector<bool> in_tail(n, false);
    in_tail[w] = true;
    double first = std::numeric_limits<double>::infinity();
    bool movable = true;
    for (int32_t i = w + 1; i < n; ++i) {
      const Node& nd = nodes[i];
      bool reads = false;
      for (const ValueRef& r : nd.inputs) reads = reads || in_tail[r.node];
      if (!reads) continue;
      if (nd.kind == NodeKind::op && !nd.dead && nd.op->view && nd.inputs.size() == 1 &&
          !nd.mutates() && !mi.written[i][0]) {
        in_tail[i] = true;
        tail.push_back(i);
      } else {
        first = std::min(first, pos[i]);
      }
    }
    for (int32_t i : tail) movable = movable && !mi.written[i][0];
    if (!movable) continue;
    // No reader: the end of the step (after every other node).
    const double at = first == std::numeric_limits<double>::infinity() ? n : first - 0.5;
    if (at <= pos[w]) continue;
    pos[w] = at + w * kTiny;
    for (size_t k = 0; k < tail.size(); ++k) pos[tail[k]] = at + w * kTiny + (k + 1) * 1e-6;
  }

  std::vector<int32_t> order(n);
  for (int32_t i = 0; i < n; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return pos[a] < pos[b]; });
  permute_nodes(ctx, order);
  for (int32_t i = 0; i < n; ++i)
    for (const ValueRef& r : nodes[i].inputs)
      DUET_ASSERT(r.node < i, "schedule_collectives: node %", i, " (", nodes[i].label(),
                  ") reads node %", r.node, " which comes after it");
}

}  // namespace duet::detail
