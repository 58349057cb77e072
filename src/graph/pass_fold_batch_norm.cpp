// Batch-norm folding (eval graphs): inference batch norm is recorded as
//   scale = weight * rsqrt(running_var + eps), shift = bias - running_mean * scale  (C) ops,
//   y = channel_affine(conv2d(x, W, b?), scale, shift),
// and when the conv's output has no other reader it becomes
//   y = conv2d(x, W * scale.reshape(O, 1, 1, 1), (b or 0) * scale + shift).
// A low-precision conv under autocast reads cast(W) / cast(b): the fold uses the float32 W and
// b and casts the folded weight and bias once (hoisted, like the rest of the fold).
// The new weight and bias are op nodes on the captured parameters (O(params) each run), so
// the compiled graph stays right when the caller changes parameters or running stats later.
// This changes the order of float operations (reorders_math): skipped with bit_exact.
#include <map>

#include "duet/ops/elementwise.h"
#include "duet/ops/shape.h"
#include "graph/passes.h"

namespace duet::detail {
namespace {

// v itself, or x when v = cast(x) narrows a wider floating x (autocast's cast of a weight).
ValueRef widened_source(const GraphData& g, ValueRef v) {
  const Node& n = g.nodes[v.node];
  if (!n.is(OpId::cast)) return v;
  const DType from = g.meta(n.inputs[0]).dtype, to = n.outputs[0].dtype;
  return is_floating(from) && dtype_size(from) > dtype_size(to) ? n.inputs[0] : v;
}

}  // namespace

void fold_batch_norm(PassContext& ctx) {
  GraphData& g = ctx.graph;
  if (g.training) return;  // training batch norm normalises with batch statistics
  const size_t n = g.nodes.size();
  const std::vector<std::vector<int>> uses = count_uses(ctx);
  const MutationInfo mi = analyze_mutations(g);
  bool changed = false;
  // Nodes appended by this pass (index >= n) have no entry in `uses` / `mi`: a folded conv
  // stands for the batch norm output it replaced (a later conv may read it, e.g. a
  // projection conv + BN feeding the next block's conv directly).
  std::map<int32_t, int32_t> replaced;  // folded conv node -> the channel_affine node
  auto is_written = [&](const ValueRef& r) {
    if (static_cast<size_t>(r.node) < n) return static_cast<bool>(mi.written[r.node][r.output]);
    auto it = replaced.find(r.node);
    return it == replaced.end() || static_cast<bool>(mi.written[it->second][0]);
  };
  for (size_t a = 0; a < n; ++a) {
    if (!g.nodes[a].is(OpId::channel_affine)) continue;
    const Node affine = g.nodes[a];  // copies: emitting nodes grows g.nodes
    const ValueRef conv_out = affine.inputs[0];
    if (static_cast<size_t>(conv_out.node) >= n) continue;  // a folded conv: not again
    const Node conv = g.nodes[conv_out.node];
    if (!conv.is(OpId::conv2d) ||
        uses[conv_out.node][0] != 1)
      continue;
    // The folded conv reads x, W, b, scale and shift later than the original nodes did
    // (just before the first reader of y): nothing may write them in place.
    bool written = false;
    for (const ValueRef& r : conv.inputs) written = written || is_written(r);
    for (const ValueRef& r : affine.inputs) written = written || is_written(r);
    if (written) continue;

    ValueRef folded;
    emit_into(g, conv.loc, [&] {
      const Tensor x = g.symbolic(conv.inputs[0]);
      // Autocast: a low-precision conv reads cast(W) and cast(b); fold into the float32
      // sources and round the results once, to the conv's parameter dtype.
      const DType wdt = g.meta(conv.inputs[1]).dtype;
      const Tensor w = g.symbolic(widened_source(g, conv.inputs[1]));
      const Tensor scale = g.symbolic(affine.inputs[1]);  // (O)
      const Tensor shift = g.symbolic(affine.inputs[2]);  // (O)
      Tensor w2 = mul(w, reshape(scale, {w.shape()[0], 1, 1, 1}));
      Tensor b2 = conv.inputs.size() > 2
                      ? add(mul(g.symbolic(widened_source(g, conv.inputs[2])), scale), shift)
                      : shift;
      if (w2.dtype() != wdt) w2 = cast(w2, wdt);
      if (b2.dtype() != wdt) b2 = cast(b2, wdt);
      const Tensor y = call_op1(*conv.op, {x, w2, b2}, conv.attrs);
      folded = graph_value(y)->ref;
    });
    replaced[folded.node] = static_cast<int32_t>(a);
    replace_value(ctx, {static_cast<int32_t>(a), 0}, folded);
    g.nodes[a].dead = true;
    g.nodes[conv_out.node].dead = true;
    changed = true;
  }
  if (!changed) return;
  reorder_topologically(ctx, n);
  std::vector<ValueRef*> keep;
  for (ValueRef& r : ctx.outputs) keep.push_back(&r);
  g.compact(keep);
}

}  // namespace duet::detail
