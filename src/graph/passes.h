// Graph passes: small functions over the IR, each testable alone and able to dump the graph
// before and after itself (CompileOptions::dump_passes).
#pragma once

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
  bool eval_only = false;        // skipped for training graphs
  bool reorders_math = false;    // skipped with bit_exact
};

// The fixed pipeline, in order.
const std::vector<Pass>& pass_pipeline();

// Removes nodes whose outputs reach no requested output and no side effect (in-place node).
void dead_code_elimination(PassContext& ctx);
// Merges op nodes with the same op, attrs and inputs (pure, non-random ops only).
void common_subexpression_elimination(PassContext& ctx);
// Evaluates op nodes whose inputs are all constants (captures nobody else can change) and
// replaces them with captures of the results.
void constant_folding(PassContext& ctx);
// Eval graphs: conv2d followed by inference batch norm becomes one conv2d with scaled weights.
void fold_batch_norm(PassContext& ctx);
// conv2d/linear + bias + activation (+ residual add), and add + relu, into fused ops.
void fuse_epilogues(PassContext& ctx);

// Replaces every use of `from` by `to` (in node inputs and requested outputs).
void replace_uses(PassContext& ctx, ValueRef from, ValueRef to);
// How many op inputs and requested outputs read each value: uses[node][output].
std::vector<std::vector<int>> count_uses(const PassContext& ctx);

}  // namespace duet::detail
