// inplace: marks the op nodes whose output 0 can be written over an input whose buffer dies
// at that node (Node::inplace_of); the planner then gives the output that buffer.
//
//   %4 = exp(%0)          -> (64, 64)
//   %5 = add_relu(%4, %0) -> (64, 64)  [inplace over %4]     (exp(x) is read nowhere else)
//
// The rule needs what the planner knows at that node (which buffer each value is in, which
// buffers die there, each value's layout in its buffer), so it walks the nodes with the
// planner's own walk (assign_buffers) and makes the choice where the planner would.
#include "graph/passes.h"
#include "graph/planner.h"

namespace duet::detail {
namespace {

int32_t in_place_rule(const PlanState& s, int32_t i) {
  const Node& node = s.graph.nodes[i];
  const OpDef& op = *node.op;
  if (!op.has(OpTrait::inplace) || op.inplace_input >= static_cast<int>(node.inputs.size()) ||
      s.kind[i][0] != BufferKind::activation)
    return -1;
  const ValueRef src = node.inputs[op.inplace_input];
  const int32_t b = s.plan.value_buffer[src.node][src.output];
  if (b < 0) return -1;  // a capture, or a hoisted value: not in the arena
  // The kernels only promise "element i is read before element i is written", and the
  // output is the buffer from offset 0 in row-major order. So the input must be laid out
  // exactly so (not a view at an offset: relu(x[1:]) writes output element i over x[i],
  // which is input element i - 1, read by another thread), and no other input may read
  // the buffer through a different view (x + x[0:1] reads row 0 after it is overwritten).
  const Tensor& src_layout = s.layout[src.node][src.output];
  bool same_elements = src_layout.is_contiguous() && src_layout.storage_offset() == 0;
  for (size_t k = 0; same_elements && k < node.inputs.size(); ++k) {
    const ValueRef r = node.inputs[k];
    if (static_cast<int>(k) == op.inplace_input || s.plan.value_buffer[r.node][r.output] != b)
      continue;
    const Tensor& l = s.layout[r.node][r.output];
    same_elements = l.shape() == src_layout.shape() && l.strides() == src_layout.strides() &&
                    l.storage_offset() == src_layout.storage_offset();
  }
  // Only the op itself reads the dying input (no later reader, not a requested output, input
  // or gradient), and the result has its shape and dtype.
  const Buffer& buf = s.plan.buffers[b];
  const bool ok = same_elements && buf.kind == BufferKind::activation && buf.last == i &&
                  s.graph.meta(src).shape == node.outputs[0].shape &&
                  s.graph.meta(src).dtype == node.outputs[0].dtype;
  return ok ? op.inplace_input : -1;
}

}  // namespace

void mark_inplace(PassContext& ctx) {
  GraphData& g = ctx.graph;
  for (Node& node : g.nodes) node.inplace_of = -1;
  const MemoryPlan walk = assign_buffers(g, ctx.outputs, /*keep_all=*/false, in_place_rule,
                                         /*with_calls=*/false);
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (walk.inplace[i]) g.nodes[i].inplace_of = g.nodes[i].op->inplace_input;
}

}  // namespace duet::detail
