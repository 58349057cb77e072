// fuse_updates (training graphs): a linear layer's weight gradient
//   dW = matmul(permute(grad_out, [1, 0]), x)       grad_out (rows, out), x (rows, in)
// consumed only by adam_step_(W, dW, m, v, lr, step) becomes one
//   linear_grad_adam_step_(grad_out, x, W, m, v, lr, step)
// which computes dW a block of rows at a time and updates those rows at once: the gradient
// is never materialised (less memory, one write and one read less per weight). Only for
// at most kMaxFusedRows rows of x (small batches), where it pays.
#include "graph/passes.h"
#include "ops/fused_update_ops.h"

namespace duet::detail {

namespace {
constexpr int64_t kMaxFusedRows = 16;
}

void fuse_updates(PassContext& ctx) {
  std::vector<Node>& nodes = ctx.graph.nodes;
  const std::vector<std::vector<int>> uses = count_uses(ctx);
  bool changed = false;
  for (Node& u : nodes) {
    if (!u.is(OpId::adam_step_)) continue;
    const ValueRef grad = u.inputs[1];
    Node& mm = nodes[grad.node];
    if (!mm.is(OpId::matmul) || uses[grad.node][0] != 1) continue;
    const Node& perm = nodes[mm.inputs[0].node];
    if (!perm.is(OpId::permute) ||
        perm.attrs.ints("axes") != std::vector<int64_t>{1, 0})
      continue;
    const ValueRef go = perm.inputs[0];
    const ValueRef x = mm.inputs[1];
    const Shape& gs = ctx.graph.meta(go).shape;
    const Shape& xs = ctx.graph.meta(x).shape;
    const Shape& ws = ctx.graph.meta(u.inputs[0]).shape;
    if (gs.size() != 2 || xs.size() != 2 || ws.size() != 2 || gs[0] != xs[0] || gs[1] != ws[0] ||
        xs[1] != ws[1])
      continue;
    // Measured on the Fashion-MNIST CNN: with few rows (small batches) the fused kernel saves
    // the gradient's memory and is as fast or faster; with many rows one large GEMM followed
    // by adam_step_ is faster than per-block GEMMs, and the gradient is a small share of the
    // memory, so those stay unfused.
    if (gs[0] > kMaxFusedRows) continue;
    Node fused;
    fused.kind = NodeKind::op;
    fused.op = &linear_grad_adam_step_def();
    fused.attrs = u.attrs;
    fused.inputs = {go, x, u.inputs[0], u.inputs[2], u.inputs[3], u.inputs[4], u.inputs[5]};
    if (u.inputs.size() > 6) fused.inputs.push_back(u.inputs[6]);  // the loss-scaling gate
    fused.loc = u.loc;
    u = std::move(fused);
    mm.dead = true;  // its only reader is gone; DCE drops the permute if nothing else reads it
    changed = true;
  }
  if (!changed) return;
  std::vector<ValueRef*> keep;
  for (ValueRef& r : ctx.outputs) keep.push_back(&r);
  ctx.graph.compact(keep);
}

}  // namespace duet::detail
