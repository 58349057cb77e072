#include "graph/planner.h"

#include <algorithm>
#include <climits>
#include <numeric>

namespace duet::detail {
namespace {

// Sizes and offsets are checked: each value's byte size fits in int64, but a graph of huge
// values can still overflow their sum (a duet::Error before anything is allocated).
int64_t align_up(int64_t n) {
  return checked_add(n, kArenaAlignment - 1, "compile: memory plan (buffer bytes)") /
         kArenaAlignment * kArenaAlignment;
}

int64_t bytes_of(const TensorMeta& m) {
  return std::max<int64_t>(
      align_up(checked_nbytes(m.shape, dtype_size(m.dtype), "compile: memory plan")),
      kArenaAlignment);
}

bool overlaps(const Buffer& a, const Buffer& b) {
  return a.first <= b.last && b.first <= a.last;
}

}  // namespace

int64_t assign_offsets(std::vector<Buffer>& buffers) {
  std::vector<size_t> order(buffers.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return buffers[a].size > buffers[b].size; });
  std::vector<size_t> placed;
  int64_t arena = 0;
  for (size_t idx : order) {
    Buffer& b = buffers[idx];
    // Live neighbours sorted by offset; scan the gaps between them.
    std::vector<const Buffer*> live;
    for (size_t p : placed)
      if (overlaps(buffers[p], b)) live.push_back(&buffers[p]);
    std::sort(live.begin(), live.end(),
              [](const Buffer* x, const Buffer* y) { return x->offset < y->offset; });
    int64_t best = -1, best_gap = INT64_MAX, cursor = 0;
    for (const Buffer* o : live) {
      const int64_t gap = o->offset - cursor;
      if (gap >= b.size && gap < best_gap) {
        best = cursor;
        best_gap = gap;
      }
      cursor = std::max(cursor, checked_add(o->offset, o->size, "compile: memory plan (arena)"));
    }
    b.offset = best >= 0 ? best : cursor;
    arena = std::max(arena, checked_add(b.offset, b.size, "compile: memory plan (arena)"));
    placed.push_back(idx);
  }
  return arena;
}

namespace {

// The device an op node's kernel runs on: where its outputs are (input 0 for an op without
// outputs), as in eager dispatch.
Device node_device(const GraphData& g, const Node& node) {
  return !node.outputs.empty() ? node.outputs[0].device
         : node.inputs.empty() ? cpu
                               : g.meta(node.inputs[0]).device;
}

// The planner's choice: what the in-place pass marked. Checked, not trusted: a pass that ran
// after it (and moved a reader past the node) would make the mark unsafe.
int32_t follow_marks(const PlanState& s, int32_t i) {
  const Node& node = s.graph.nodes[i];
  if (node.inplace_of < 0) return -1;
  DUET_ASSERT(node.inplace_of == node.op->inplace_input &&
                  node.inplace_of < static_cast<int32_t>(node.inputs.size()),
              "planner: node %", i, " (", node.op->name, ") is marked in place over input ",
              node.inplace_of, "; its op allows input ", node.op->inplace_input);
  const ValueRef src = node.inputs[node.inplace_of];
  const int32_t b = s.plan.value_buffer[src.node][src.output];
  DUET_ASSERT(b >= 0 && s.plan.buffers[b].last == i &&
                  s.plan.buffers[b].kind == BufferKind::activation &&
                  s.kind[i][0] == BufferKind::activation,
              "planner: node %", i, " (", node.op->name, ") is marked in place over %", src.node,
              " but that buffer does not die there (a pass after \"inplace\" moved nodes?)");
  return node.inplace_of;
}

}  // namespace

MemoryPlan assign_buffers(const GraphData& g, const std::vector<ValueRef>& outputs, bool keep_all,
                          InplaceChoice choose, bool with_calls) {
  const int32_t n = static_cast<int32_t>(g.nodes.size());
  MemoryPlan plan;
  plan.value_buffer.resize(n);
  plan.workspace_buffer.assign(n, -1);
  plan.workspace_size.assign(n, 0);
  plan.inplace.assign(n, false);
  plan.alias.assign(n, false);
  plan.staging.assign(n, {});
  plan.calls.assign(n, {});
  // The layout (shape, strides, offset) of every value relative to its buffer, found by
  // running the view functions on storage-less tensors: views are aliases, not copies.
  std::vector<std::vector<Tensor>> layout(n);
  auto fake = [](const TensorMeta& m) {
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = std::make_shared<Storage>(nullptr, 0, m.device);
    impl->shape = m.shape;
    impl->strides = contiguous_strides(m.shape);
    impl->dtype = m.dtype;
    impl->device = m.device;
    return Tensor(std::move(impl));
  };

  // Last reader of every value; requested outputs and gradients live to the end.
  std::vector<std::vector<int32_t>> last_use(n);
  for (int32_t i = 0; i < n; ++i) last_use[i].assign(g.nodes[i].outputs.size(), i);
  for (int32_t i = 0; i < n; ++i)
    for (const ValueRef& r : g.nodes[i].inputs)
      last_use[r.node][r.output] = std::max(last_use[r.node][r.output], i);
  std::vector<std::vector<BufferKind>> kind(n);
  for (int32_t i = 0; i < n; ++i)
    kind[i].assign(g.nodes[i].outputs.size(),
                   g.nodes[i].kind == NodeKind::input ? BufferKind::input : BufferKind::activation);
  // Gradients live until their last reader (the optimizer update that consumes them, which
  // schedule_updates runs right after the gradient is complete); requested ones to the end.
  for (const ValueRef& r : g.gradient_values) kind[r.node][r.output] = BufferKind::gradient;
  for (const ValueRef& r : outputs) {
    last_use[r.node][r.output] = INT32_MAX;
    if (kind[r.node][r.output] == BufferKind::activation)
      kind[r.node][r.output] = BufferKind::output;
  }
  const PlanState state{g, plan, layout, kind};

  auto new_buffer = [&](int64_t size, int32_t first, int32_t last, BufferKind k) {
    plan.buffers.push_back({size, first, last, k, -1});
    return static_cast<int32_t>(plan.buffers.size() - 1);
  };
  auto extend = [&](int32_t b, int32_t last) {
    plan.buffers[b].last = std::max(plan.buffers[b].last, last);
  };
  // The kernel call of op node i (ops/prepare.h), prepared on its inputs' layouts.
  auto prepare_call = [&](int32_t i) {
    const Node& node = g.nodes[i];
    std::vector<Tensor> in;
    in.reserve(node.inputs.size());
    for (const ValueRef& r : node.inputs) in.push_back(layout[r.node][r.output]);
    return prepare(*node.op, in, node.outputs, node.attrs, node_device(g, node), {i, &node.loc});
  };

  for (int32_t i = 0; i < n; ++i) {
    const Node& node = g.nodes[i];
    const size_t nout = node.outputs.size();
    plan.value_buffer[i].assign(nout, -1);
    layout[i].resize(nout);
    if (node.kind == NodeKind::capture) {
      layout[i][0] = node.captured;
      continue;
    }
    if (node.kind == NodeKind::input) {
      layout[i][0] = fake(node.outputs[0]);
      plan.value_buffer[i][0] =
          new_buffer(bytes_of(node.outputs[0]), 0, last_use[i][0], kind[i][0]);
      continue;
    }
    const OpDef& op = *node.op;
    // View ops alias their input (reshape of a non-contiguous value copies inside its view
    // function, so it gets a buffer of its own like any op).
    const ValueRef src0 = node.inputs.empty() ? ValueRef{} : node.inputs[0];
    const bool contiguous_src = op.view && layout[src0.node][src0.output].is_contiguous();
    if (op.view && (contiguous_src || !op.has(OpTrait::copying_view))) {
      const ValueRef src = src0;
      const int32_t b = plan.value_buffer[src.node][src.output];
      layout[i][0] = op.view(layout[src.node][src.output], node.outputs[0], node.attrs);
      plan.alias[i] = true;
      plan.value_buffer[i][0] = b;
      if (b >= 0) {
        extend(b, last_use[i][0]);
        if (kind[i][0] != BufferKind::activation) plan.buffers[b].kind = kind[i][0];
      }
      continue;
    }
    if (with_calls) plan.calls[i] = prepare_call(i);
    if (node.hoisted) {
      // Computed outside the arena (the executor allocates its outputs, copies and scratch).
      for (size_t k = 0; k < nout; ++k) layout[i][k] = fake(node.outputs[k]);
      continue;
    }
    if (with_calls) {
      const PreparedCall& call = plan.calls[i];
      for (int32_t k : call.copies)
        plan.staging[i].push_back(
            {k, new_buffer(bytes_of(g.meta(node.inputs[k])), i, i, BufferKind::activation)});
      plan.workspace_size[i] = call.workspace_bytes;
      if (call.workspace_bytes) {
        DUET_CHECK(call.workspace_bytes <= static_cast<size_t>(INT64_MAX), "compile: node %", i,
                   " (", node.op->name, ") asks for a workspace of ", call.workspace_bytes,
                   " bytes (expected at most ", INT64_MAX, ")");
        plan.workspace_buffer[i] = new_buffer(align_up(static_cast<int64_t>(call.workspace_bytes)),
                                              i, i, BufferKind::workspace);
      }
    }
    for (size_t k = 0; k < nout; ++k) {
      const int32_t over = k == 0 ? choose(state, i) : -1;
      if (over >= 0) {
        // Written over the input's buffer, which dies here (nobody else reads it).
        const ValueRef src = node.inputs[over];
        const int32_t b = plan.value_buffer[src.node][src.output];
        plan.inplace[i] = true;
        plan.value_buffer[i][0] = b;
        layout[i][0] = fake(node.outputs[0]);
        extend(b, last_use[i][0]);
        continue;
      }
      plan.value_buffer[i][k] =
          new_buffer(bytes_of(node.outputs[k]), i, last_use[i][k], kind[i][k]);
      layout[i][k] = fake(node.outputs[k]);
    }
  }
  // A value nobody reads still needs its bytes while its producer runs.
  for (Buffer& b : plan.buffers) b.last = keep_all ? INT32_MAX : std::max(b.last, b.first);
  return plan;
}

MemoryPlan plan_memory(const GraphData& g, const std::vector<ValueRef>& outputs, bool keep_all) {
  MemoryPlan plan = assign_buffers(g, outputs, keep_all, follow_marks, /*with_calls=*/true);
  plan.arena_bytes = assign_offsets(plan.buffers);
  return plan;
}

}  // namespace duet::detail
