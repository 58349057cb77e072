// Graph autocast (CompileOptions::autocast, docs/mixed_precision.md "Autocast"):
//
// "autocast" (first slot, before autodiff): inserts exactly the casts eager code inside
//   duet::autocast(dtype) would: for each op node in order, each input that the op's
//   AutocastPolicy wants in another dtype (detail::autocast_target, the rule call_op uses) is
//   read through a new cast node, one per use as eager makes one per call, and the node's
//   outputs are inferred again from the new input dtypes (so a bfloat16 linear output flows
//   on as bfloat16, and a mixed binary op promotes as in eager). compile() runs it before
//   autodiff, so the backward graph is the gradient of the cast graph, as the eager tape is:
//   parameters stay float32 and get float32 gradients through the casts' gradient rules.
//   It runs there for training graphs and with bit_exact (or keep_intermediates).
//
// "autocast" (second slot, eval graphs without bit_exact): the same insertion after
//   fold_batch_norm and fuse_epilogue, so batch norm is folded into the float32 weights
//   before they are rounded once, and conv2d_fused / linear_fused (policy lower) run the whole
//   fused block in low precision: the values are eager autocast's within rounding, not bit for
//   bit (a fused residual add is rounded to the low dtype, and the block's output stays low).
//   Then cse merges the casts of one value and cancel_casts runs again.
//
//   before:  %3 = linear(%0, %1, %2) -> (8, 16) float32
//   after:   %3 = cast(%0) [dtype=bfloat16] -> (8, 32) bfloat16
//            %4 = cast(%1) [dtype=bfloat16] -> (16, 32) bfloat16
//            %5 = cast(%2) [dtype=bfloat16] -> (16) bfloat16
//            %6 = linear(%3, %4, %5) -> (8, 16) bfloat16
//
// "cancel_casts" (after autodiff, any graph): cast(cast(x, B), A) with x of dtype A and B
//   holding every value of A exactly (a widening, then back) is x itself: the outer cast's
//   users read x. Never a narrowing then widening (cast(cast(x_f32, bf16), f32) rounds).
//   Duplicate casts of one value are merged by "cse"; casts of weights in eval graphs are
//   computed once by "hoist" (tests/amp/autocast_graph_test.cpp checks both).
#include "amp/autocast.h"
#include "duet/ops/shape.h"
#include "graph/passes.h"

namespace duet::detail {
namespace {

// Every value of dtype `narrow` converts to `wide` and back unchanged.
bool holds_exactly(DType wide, DType narrow) {
  if (wide == DType::float64) return narrow == DType::float32 || is_low_precision(narrow);
  if (wide == DType::float32) return is_low_precision(narrow);
  return false;
}

}  // namespace

namespace {

// Where the casts go: before autodiff in training graphs (the backward graph must be the
// gradient of the cast graph), with bit_exact (the graph must compute what eager autocast
// does, op for op) and with keep_intermediates (no later pass runs). Other eval graphs get
// them after fold_batch_norm and fuse_epilogue ("autocast", second slot).
bool casts_first(const PassContext& ctx) {
  return ctx.graph.training || ctx.options.bit_exact || ctx.options.keep_intermediates;
}

void insert_casts(PassContext& ctx) {
  GraphData& g = ctx.graph;
  const DType lowp = *ctx.options.autocast;
  DUET_CHECK(is_low_precision(lowp), "compile: CompileOptions::autocast = ", lowp,
             " (expected bfloat16 or float16)");
  const size_t n = g.nodes.size();
  size_t to_cast = 0;  // inputs the policies name
  bool differentiated = !g.gradient_values.empty();
  for (size_t i = 0; i < n; ++i) {
    const Node& nd = g.nodes[i];
    differentiated = differentiated || nd.from_autodiff;
    if (nd.dead || nd.kind != NodeKind::op || nd.from_autodiff ||
        nd.op->autocast == AutocastPolicy::none)
      continue;
    for (size_t k = 0; k < nd.inputs.size(); ++k)
      if (autocast_target(nd.op->autocast, g.meta(nd.inputs[k]).dtype, lowp)) ++to_cast;
  }
  // Autodiff must differentiate the cast graph; a graph whose gradients were already taken
  // (gradients() called before compile) would keep the backward of the uncast one.
  DUET_CHECK(!differentiated || to_cast == 0, "compile: CompileOptions::autocast = ", lowp,
             " on graph #", g.id,
             " whose gradients were already taken (gradients() was called before compile); the "
             "casts must come before autodiff: pass the optimizer to compile() instead, or build "
             "the graph inside duet::autocast(",
             lowp, ")");
  if (to_cast == 0) return;

  for (size_t i = 0; i < n; ++i) {
    if (g.nodes[i].dead || g.nodes[i].kind != NodeKind::op) continue;
    // Cast the inputs this node's policy names (dtypes as inferred so far: an upstream node's
    // outputs may have changed dtype), then infer the node again.
    const OpDef& op = *g.nodes[i].op;
    for (size_t k = 0; k < g.nodes[i].inputs.size(); ++k) {
      const ValueRef r = g.nodes[i].inputs[k];
      const auto to = autocast_target(op.autocast, g.meta(r).dtype, lowp);
      if (!to) continue;
      ValueRef c;
      emit_into(g, g.nodes[i].loc, [&] { c = graph_value(cast(g.symbolic(r), *to))->ref; });
      g.nodes[i].inputs[k] = c;
    }
    std::vector<TensorMeta> metas;
    for (const ValueRef& r : g.nodes[i].inputs) metas.push_back(g.meta(r));
    try {
      g.nodes[i].outputs = op.infer({op.name.c_str(), metas, g.nodes[i].attrs});
    } catch (const Error& e) {
      throw Error(cat("compile: autocast to ", lowp, ": node %", i, " (", g.nodes[i].label(),
                      ", created at ", g.nodes[i].loc.str(), "): ", e.what()));
    }
  }
  reorder_topologically(ctx, n);
}

}  // namespace

void insert_autocast(PassContext& ctx) {
  if (ctx.options.autocast && casts_first(ctx)) insert_casts(ctx);
}

void insert_autocast_late(PassContext& ctx) {
  if (!ctx.options.autocast || casts_first(ctx)) return;
  insert_casts(ctx);
  // One cast per use, as eager makes them: merge those of one value (a weight read twice),
  // then drop the pairs that cancel.
  if (!ctx.options.disabled_passes.count("cse")) common_subexpression_elimination(ctx);
  if (!ctx.options.disabled_passes.count("cancel_casts")) cancel_casts(ctx);
}

void cancel_casts(PassContext& ctx) {
  GraphData& g = ctx.graph;
  const MutationInfo mi = analyze_mutations(g);
  std::vector<bool> requested(g.nodes.size(), false);
  for (const ValueRef& r : ctx.outputs) requested[r.node] = true;
  bool changed = false;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& outer = g.nodes[i];
    if (!outer.is(OpId::cast) || requested[i]) continue;
    const ValueRef mid = outer.inputs[0];
    const Node& inner = g.nodes[mid.node];
    if (!inner.is(OpId::cast)) continue;
    const ValueRef x = inner.inputs[0];
    const DType a = g.meta(x).dtype, b = g.meta(mid).dtype;
    // x written in place: the copies hold its value before the write; keep them.
    if (outer.outputs[0].dtype != a || !holds_exactly(b, a) || mi.written[x.node][x.output] ||
        mi.written[i][0])
      continue;
    replace_value(ctx, {static_cast<int32_t>(i), 0}, x);
    changed = true;
  }
  if (changed) dead_code_elimination(ctx);
}

}  // namespace duet::detail
