// Training graphs: relu followed by max pooling becomes max pooling followed by relu.
//
//   forward   r = relu(v); y, idx = max_pool2d(r)
//   backward  gr = max_pool2d_backward(gy, idx); gv = relu_backward(gr, r)
// becomes
//   forward   y0, idx' = max_pool2d(v); y = relu(y0)
//   backward  g0 = relu_backward(gy, y); gv = max_pool2d_backward(g0, idx')
//
// relu is monotonic, so max(relu(window)) == relu(max(window)) exactly (padding reads -inf,
// which neither side selects), and the gradients are identical too: where the window's
// maximum is positive both route gy to the same element (the first maximum; relu does not
// change positive values); where it is <= 0, relu's gradient is 0 on both sides. relu and its
// gradient then run on the pooled tensor (a quarter of the elements for 2x2 pooling) and
// relu's saved output is the pooled one. Values are bit-identical, so the pass runs with
// bit_exact. Eval graphs keep relu where it is: there it fuses into the conv's epilogue.
#include "graph/passes.h"

namespace duet::detail {
namespace {

}  // namespace

void commute_relu_pool(PassContext& ctx) {
  if (!ctx.options.training) return;
  GraphData& g = ctx.graph;
  const std::vector<std::vector<int>> uses = count_uses(ctx);
  const MutationInfo mi = analyze_mutations(g);
  const int32_t n = static_cast<int32_t>(g.nodes.size());
  // The single reader of each value read exactly once (or -1).
  std::vector<std::vector<int32_t>> readers(n);
  for (int32_t i = 0; i < n; ++i) readers[i].assign(g.nodes[i].outputs.size(), -1);
  std::vector<std::vector<int32_t>> relu_readers(n);  // readers of relu outputs (all)
  for (int32_t i = 0; i < n; ++i) {
    if (g.nodes[i].dead || g.nodes[i].kind != NodeKind::op) continue;
    for (const ValueRef& r : g.nodes[i].inputs) {
      readers[r.node][r.output] = i;
      if (g.nodes[r.node].is(OpId::relu)) relu_readers[r.node].push_back(i);
    }
  }
  auto written = [&](ValueRef v) { return mi.written[v.node][v.output]; };

  const size_t first_new = g.nodes.size();
  for (int32_t ri = 0; ri < n; ++ri) {
    if (!g.nodes[ri].is(OpId::relu)) continue;
    const ValueRef r{ri, 0};
    // r: read by the pooling (input 0) and by relu_backward (as its saved output, input 1).
    if (uses[ri][0] != 2 || relu_readers[ri].size() != 2 || written(r)) continue;
    int32_t pi = -1, b2i = -1;
    for (int32_t u : relu_readers[ri]) {
      const Node& un = g.nodes[u];
      if (un.is(OpId::max_pool2d) && un.inputs[0] == r) pi = u;
      if (un.is(OpId::relu_backward) && un.inputs[1] == r && !(un.inputs[0] == r)) b2i = u;
    }
    if (pi < 0 || b2i < 0) continue;
    const ValueRef idx{pi, 1}, y{pi, 0};
    if (uses[pi][1] != 1 || written(idx) || written(y)) continue;
    const int32_t b1i = readers[pi][1];
    if (b1i < 0 || !g.nodes[b1i].is(OpId::max_pool2d_backward) || !(g.nodes[b1i].inputs[1] == idx))
      continue;
    const ValueRef gr{b1i, 0};
    if (uses[b1i][0] != 1 || !(g.nodes[b2i].inputs[0] == gr) || written(gr)) continue;
    const ValueRef v = g.nodes[ri].inputs[0], gy = g.nodes[b1i].inputs[0];
    if (written(v) || written(gy)) continue;

    const Node relu = g.nodes[ri], pool = g.nodes[pi], pool_bwd = g.nodes[b1i],
               relu_bwd = g.nodes[b2i];
    const size_t before = g.nodes.size();
    emit_into(g, pool.loc, [&] {
      std::vector<Tensor> p = call_op(*pool.op, {g.symbolic(v)}, pool.attrs);  // y0, idx'
      call_op(*relu.op, {p[0]}, relu.attrs);                                   // y
    });
    DUET_ASSERT(g.nodes.size() == before + 2, "commute_relu_pool: emitted ",
                g.nodes.size() - before, " forward nodes, expected 2");
    const ValueRef y_new{static_cast<int32_t>(before) + 1, 0};
    const ValueRef idx_new{static_cast<int32_t>(before), 1};
    const size_t mid = g.nodes.size();
    emit_into(g, relu_bwd.loc, [&] {
      Tensor g0 = call_op(*relu_bwd.op, {g.symbolic(gy), g.symbolic(y_new)}, relu_bwd.attrs)[0];
      call_op(*pool_bwd.op, {g0, g.symbolic(idx_new)}, pool_bwd.attrs);
    });
    DUET_ASSERT(g.nodes.size() == mid + 2, "commute_relu_pool: emitted ", g.nodes.size() - mid,
                " backward nodes, expected 2");
    const ValueRef gv_new{static_cast<int32_t>(mid) + 1, 0};
    replace_value(ctx, y, y_new);
    replace_value(ctx, ValueRef{b2i, 0}, gv_new);
    for (int32_t d : {ri, pi, b1i, b2i}) g.nodes[d].dead = true;
  }
  if (g.nodes.size() == first_new) return;
  reorder_topologically(ctx, first_new);
  std::vector<ValueRef*> keep;
  for (ValueRef& r : ctx.outputs) keep.push_back(&r);
  g.compact(keep);
}

}  // namespace duet::detail
