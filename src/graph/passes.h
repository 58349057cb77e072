// Graph passes: small functions over the IR, each testable alone and able to dump the graph
// before and after itself (CompileOptions::dump_passes). Most rewrite the node list; the
// last two (hoist, inplace) only annotate nodes (Node::hoisted, Node::inplace_of) for the
// planner and the executor.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "graph/ir.h"

namespace duet::detail {

struct PassContext {
  GraphData& graph;
  std::vector<ValueRef>& outputs;  // requested outputs (remapped by passes that move values)
  const CompileOptions& options;
};

using PassFn = void (*)(PassContext&);

struct Pass {
  const char* name;
  PassFn fn;
  bool eval_only = false;      // skipped for training graphs
  bool reorders_math = false;  // skipped with bit_exact
  // Runs in compile() before autodiff (training graphs: before the optimizer's gradients),
  // also with keep_intermediates: it changes what the graph computes (autocast).
  bool before_autodiff = false;
};

// The fixed pipeline, in order.
const std::vector<Pass>& pass_pipeline();

// CompileOptions::autocast (pass_autocast.cpp): casts each op's inputs as its AutocastPolicy
// asks, as eager autocast does, and infers the outputs again. insert_autocast: before autodiff
// (training graphs, bit_exact, keep_intermediates); insert_autocast_late: other eval graphs,
// after fold_batch_norm and fuse_epilogue.
void insert_autocast(PassContext& ctx);
void insert_autocast_late(PassContext& ctx);
// cast(cast(x, wide), dtype of x) -> x when `wide` holds every value of x's dtype exactly.
void cancel_casts(PassContext& ctx);
// Removes nodes whose outputs reach no requested output and no side effect (in-place node).
void dead_code_elimination(PassContext& ctx);
// Merges op nodes with the same op, attrs and inputs (pure, non-random ops only).
void common_subexpression_elimination(PassContext& ctx);
// Evaluates op nodes whose inputs are all constants (captures nobody else can change) and
// replaces them with captures of the results.
void constant_folding(PassContext& ctx);
// Eval graphs: conv2d followed by inference batch norm becomes one conv2d with scaled weights.
void fold_batch_norm(PassContext& ctx);
// Training graphs: relu -> max_pool2d (and their gradients) becomes max_pool2d -> relu;
// bit-identical values, relu on the pooled tensor.
void commute_relu_pool(PassContext& ctx);
// conv2d/linear + bias + activation (+ residual add), and add + relu, into fused ops.
void fuse_epilogues(PassContext& ctx);
// Eval graphs on the CPU: converts chains of convolutions, pooling and elementwise ops to the
// blocked channel layout nChw16c (kernels/nchwc_kernels.h) with their weights packed once
// (hoisted), converting back only at the edges (to_nchwc / from_nchwc nodes). Only while the
// kernels run their AVX-512 paths (simd::kernel_isa()): the generic ones are slower than the
// plain convolutions. Tests: force_nchwc_layout(true) runs it on any CPU (generic kernels).
void nchwc_layout(PassContext& ctx);
void force_nchwc_layout(bool on);
// Training graphs: moves every in-place update (optimizer steps, running statistics) to just
// after its last dependency, so a parameter is updated while its gradient is still in cache
// and the gradient's buffer can be reused for the rest of the backward pass.
void schedule_updates(PassContext& ctx);
// Graphs with collectives (graph-mode data parallelism): moves each all_reduce_start, with the
// nodes that only pack its bucket, to just after the bucket's last gradient, and each
// all_reduce_wait (with the views reading it) to just before the first node that needs it, so
// the communication overlaps the rest of backward.
void schedule_collectives(PassContext& ctx);
// Training graphs: a linear weight gradient consumed only by adam_step_ is fused with it
// (linear_grad_adam_step_), so the gradient is never materialised.
void fuse_updates(PassContext& ctx);
// Eval graphs: marks op nodes computed from captures only (Node::hoisted): deterministic,
// writing nothing, reading nothing the graph writes in place. The executor computes them once,
// outside the arena, and again when a capture they read has a new storage version.
void hoist_constants(PassContext& ctx);
// Marks op nodes (OpTrait::inplace) whose output 0 can be written over input
// op->inplace_input (Node::inplace_of): its buffer dies at the node, it holds the same
// elements at the same places as the output and no other input reads it through another
// view. Runs last: it depends on the final node order (liveness) and on hoisting.
void mark_inplace(PassContext& ctx);

// ---- helpers shared by the passes (pass_utils.cpp) ----

// Which values some node writes in place. A mutating node's written input is traced back
// through view ops to the value it aliases; views of a written value are written too, and so
// is every capture whose storage is written. Reading such a value gives a different result
// before and after the write, so passes must not merge, fold or move its readers freely.
struct MutationInfo {
  std::vector<std::vector<bool>> written;  // [node][output]
  std::vector<int> mutations_before;       // [i]: mutating nodes with index < i (size n + 1)
  // Mutating nodes strictly between nodes a < b.
  int between(int32_t a, int32_t b) const { return mutations_before[b] - mutations_before[a + 1]; }
};
MutationInfo analyze_mutations(const GraphData& g);

// Runs `emit` with every op recording into `g` (new nodes are appended at the end of the node
// list, in topological order) and gives the new nodes location `loc`.
void emit_into(GraphData& g, const SourceLoc& loc, const std::function<void()>& emit);

// Moves the nodes from index `first_new` on (appended by a pass) to just before their first
// user; the other nodes keep their relative order (so a mutating node stays after every
// earlier reader of what it mutates). Remaps inputs, requested outputs and gradient values.
void reorder_topologically(PassContext& ctx, size_t first_new);
// Reorders the nodes: new position k holds old node order[k]; every ValueRef is remapped.
void permute_nodes(PassContext& ctx, const std::vector<int32_t>& order);

// replace_uses, plus the graph's gradient values.
void replace_value(PassContext& ctx, ValueRef from, ValueRef to);

// Replaces every use of `from` by `to` (in node inputs and requested outputs).
void replace_uses(PassContext& ctx, ValueRef from, ValueRef to);
// How many op inputs and requested outputs read each value: uses[node][output].
std::vector<std::vector<int>> count_uses(const PassContext& ctx);

}  // namespace duet::detail
