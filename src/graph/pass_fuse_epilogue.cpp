// Epilogue fusion: an activation of the epilogue list (kernels/activations.h: relu, relu6,
// sigmoid, silu, hardswish, ...) whose input is
//   conv2d(x, w, b?)                       -> conv2d_fused(x, w, b?, activation)
//   add(conv2d(x, w, b?), r) or add(r, ..) -> conv2d_fused(x, w, b?, r, activation)
//   linear(x, w, b?)                       -> linear_fused(x, w, b?, activation)
// and relu(add(a, b)) with a, b of one shape -> add_relu(a, b).
//
// Only when each intermediate value has exactly one reader (the next op of the pattern) and is
// not a requested output, and no node between the first and the last op of the pattern writes
// anything in place (the fused node reads its inputs where the activation was). In training
// graphs this fuses what the backward pass does not read: conv + relu / residual + relu
// (relu's gradient reads its output), not conv + silu (silu's gradient reads its input).
//
// The fused kernels compute the same float operations in the same order (conv's bias inside
// the conv kernel, then + residual, then the activation's own formula), so this pass does not
// change results (reorders_math = false) and runs with bit_exact.
#include <set>

#include "duet/ops/fused.h"
#include "graph/passes.h"

namespace duet::detail {
namespace {

Conv2dOptions conv_options(const Attrs& a) {
  const auto& s = a.ints("stride");
  const auto& p = a.ints("padding");
  const auto& d = a.ints("dilation");
  return {{s[0], s[1]}, {p[0], p[1]}, {d[0], d[1]}, a.i("groups")};
}

struct Fuser {
  PassContext& ctx;
  GraphData& g = ctx.graph;
  std::vector<std::vector<int>> uses = count_uses(ctx);
  MutationInfo mi = analyze_mutations(g);

  // `v` is read once (by the pattern's next op) and nothing is written between its producer
  // and node `last`.
  bool single_use(ValueRef v, int32_t last) const {
    return uses[v.node][v.output] == 1 && mi.between(v.node, last) == 0;
  }

  // Replaces node `z` by the one node `emit` records (appended, then moved into z's slot,
  // which comes after all its inputs); `dead` are the nodes it absorbs.
  template <class F>
  void replace(int32_t z, std::vector<int32_t> dead, F emit) {
    const size_t before = g.nodes.size();
    emit_into(g, g.nodes[z].loc, emit);
    DUET_ASSERT(g.nodes.size() == before + 1, "fuse_epilogue: emitted ", g.nodes.size() - before,
                " nodes, expected 1");
    Node fused = std::move(g.nodes.back());
    g.nodes.pop_back();
    Node& target = g.nodes[z];
    DUET_ASSERT(fused.outputs == target.outputs, "fuse_epilogue: fused ", fused.op->name,
                " infers other outputs than node %", z, " (", target.op->name, ")");
    target.op = fused.op;
    target.attrs = std::move(fused.attrs);
    target.inputs = std::move(fused.inputs);
    for (int32_t d : dead) g.nodes[d].dead = true;
  }

  // Tries the patterns ending at activation node z; returns whether it fused.
  bool fuse(int32_t z) {
    const Node& act = g.nodes[z];
    const std::string activation = act.op->name;  // conv2d_fused's "activation" attr
    const Attrs act_attrs = act.attrs;               // and the activation's own (beta, ...)
    const ValueRef v = act.inputs[0];
    if (!single_use(v, z)) return false;
    const Node& p = g.nodes[v.node];
    auto sym = [&](ValueRef r) { return g.symbolic(r); };
    if (p.is(OpId::conv2d) || p.is(OpId::linear)) {
      const Node producer = p;
      replace(z, {v.node}, [&] {
        const Tensor b = producer.inputs.size() > 2 ? sym(producer.inputs[2]) : Tensor();
        if (producer.op->is(OpId::conv2d))
          conv2d_fused(sym(producer.inputs[0]), sym(producer.inputs[1]), b, Tensor(),
                       conv_options(producer.attrs), activation, act_attrs);
        else
          linear_fused(sym(producer.inputs[0]), sym(producer.inputs[1]), b, activation,
                       act_attrs);
      });
      return true;
    }
    if (!p.is(OpId::add)) return false;
    const Node add = p;
    const TensorMeta& out = g.meta(v);
    if (g.meta(add.inputs[0]) != out || g.meta(add.inputs[1]) != out) return false;  // broadcast
    for (int k = 0; k < 2; ++k) {
      const ValueRef c = add.inputs[k];
      if (c == add.inputs[1 - k] || !g.nodes[c.node].is(OpId::conv2d) || !single_use(c, z))
        continue;
      const Node conv = g.nodes[c.node];
      const ValueRef residual = add.inputs[1 - k];
      replace(z, {v.node, c.node}, [&] {
        const Tensor b = conv.inputs.size() > 2 ? sym(conv.inputs[2]) : Tensor();
        conv2d_fused(sym(conv.inputs[0]), sym(conv.inputs[1]), b, sym(residual),
                     conv_options(conv.attrs), activation, act_attrs);
      });
      return true;
    }
    if (!act.op->is(OpId::relu)) return false;
    replace(z, {v.node}, [&] { add_relu(sym(add.inputs[0]), sym(add.inputs[1])); });
    return true;
  }
};

}  // namespace

void fuse_epilogues(PassContext& ctx) {
  Fuser f{ctx};
  bool changed = false;
  const int32_t n = static_cast<int32_t>(ctx.graph.nodes.size());
  for (int32_t z = 0; z < n; ++z) {
    const Node& nd = ctx.graph.nodes[z];
    if (!nd.has(OpTrait::epilogue)) continue;
    changed = f.fuse(z) || changed;
  }
  if (!changed) return;
  std::vector<ValueRef*> keep;
  for (ValueRef& r : ctx.outputs) keep.push_back(&r);
  ctx.graph.compact(keep);
}

}  // namespace duet::detail
