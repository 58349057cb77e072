#include "graph/planner.h"

#include <algorithm>
#include <climits>
#include <numeric>

namespace duet::detail {
namespace {

int64_t align_up(int64_t n) {
  return (n + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
}

int64_t bytes_of(const TensorMeta& m) {
  return std::max<int64_t>(align_up(numel(m.shape) * static_cast<int64_t>(dtype_size(m.dtype))),
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
      cursor = std::max(cursor, o->offset + o->size);
    }
    b.offset = best >= 0 ? best : cursor;
    arena = std::max(arena, b.offset + b.size);
    placed.push_back(idx);
  }
  return arena;
}

std::vector<bool> derived_nodes(const GraphData& g) {
  const size_t n = g.nodes.size();
  // A value the graph itself writes in place must be read at its place in the order.
  std::vector<bool> written(n, false);
  for (const Node& node : g.nodes)
    for (size_t k = 0; node.mutates() && k < node.inputs.size(); ++k)
      if (has_bit(node.op->mutates_inputs, k)) written[node.inputs[k].node] = true;
  std::vector<bool> derived(n, false);
  for (size_t i = 0; i < n; ++i) {
    const Node& node = g.nodes[i];
    if (node.kind != NodeKind::op || node.op->random || node.mutates() || node.inputs.empty() ||
        written[i])
      continue;
    bool all = true;
    for (const ValueRef& r : node.inputs)
      all =
          all && !written[r.node] && (g.nodes[r.node].kind == NodeKind::capture || derived[r.node]);
    derived[i] = all;
  }
  return derived;
}

MemoryPlan plan_memory(const GraphData& g, const std::vector<ValueRef>& outputs, bool allow_inplace,
                       bool keep_all, const std::vector<bool>& derived) {
  const int32_t n = static_cast<int32_t>(g.nodes.size());
  MemoryPlan plan;
  plan.value_buffer.resize(n);
  plan.workspace_buffer.assign(n, -1);
  plan.workspace_size.assign(n, 0);
  plan.inplace.assign(n, false);
  plan.alias.assign(n, false);
  plan.staging.assign(n, {});
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

  auto new_buffer = [&](int64_t size, int32_t first, int32_t last, BufferKind k) {
    plan.buffers.push_back({size, first, last, k, -1});
    return static_cast<int32_t>(plan.buffers.size() - 1);
  };
  auto extend = [&](int32_t b, int32_t last) {
    plan.buffers[b].last = std::max(plan.buffers[b].last, last);
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
    if (i < static_cast<int32_t>(derived.size()) && derived[i]) {
      // Computed outside the arena (the executor allocates its outputs and scratch).
      for (size_t k = 0; k < nout; ++k) layout[i][k] = fake(node.outputs[k]);
      continue;
    }
    if (!op.strided_inputs && !op.view) {
      for (size_t k = 0; k < node.inputs.size(); ++k) {
        const ValueRef r = node.inputs[k];
        if (layout[r.node][r.output].is_contiguous()) continue;
        plan.staging[i].push_back({static_cast<int32_t>(k),
                                   new_buffer(bytes_of(g.meta(r)), i, i, BufferKind::activation)});
      }
    }
    if (WorkspaceFn wsfn = op.workspace[static_cast<int>(node.outputs.empty() ? DeviceType::cpu : node.outputs[0].device.type)]) {
      std::vector<TensorMeta> in_metas;
      for (const ValueRef& r : node.inputs) in_metas.push_back(g.meta(r));
      const size_t ws = wsfn(in_metas, node.outputs, node.attrs);
      plan.workspace_size[i] = ws;
      if (ws)
        plan.workspace_buffer[i] =
            new_buffer(align_up(static_cast<int64_t>(ws)), i, i, BufferKind::workspace);
    }
    for (size_t k = 0; k < nout; ++k) {
      const int64_t size = bytes_of(node.outputs[k]);
      if (k == 0 && allow_inplace && op.inplace_input >= 0 &&
          op.inplace_input < static_cast<int>(node.inputs.size()) &&
          kind[i][0] == BufferKind::activation) {
        const ValueRef src = node.inputs[op.inplace_input];
        const int32_t b = plan.value_buffer[src.node][src.output];
        // The kernels only promise "element i is read before element i is written", and the
        // output is the buffer from offset 0 in row-major order. So the input must be laid out
        // exactly so (not a view at an offset: relu(x[1:]) writes output element i over x[i],
        // which is input element i - 1, read by another thread), and no other input may read
        // the buffer through a different view (x + x[0:1] reads row 0 after it is overwritten).
        const Tensor& src_layout = layout[src.node][src.output];
        bool same_elements = src_layout.is_contiguous() && src_layout.storage_offset() == 0;
        for (size_t k = 0; same_elements && k < node.inputs.size(); ++k) {
          const ValueRef r = node.inputs[k];
          if (static_cast<int>(k) == op.inplace_input || plan.value_buffer[r.node][r.output] != b)
            continue;
          const Tensor& l = layout[r.node][r.output];
          same_elements = l.shape() == src_layout.shape() && l.strides() == src_layout.strides() &&
                          l.storage_offset() == src_layout.storage_offset();
        }
        if (b >= 0 && same_elements && plan.buffers[b].kind == BufferKind::activation &&
            plan.buffers[b].last == i && g.meta(src).shape == node.outputs[0].shape &&
            g.meta(src).dtype == node.outputs[0].dtype) {
          // Only the op itself reads the dying input: write the result over it.
          plan.inplace[i] = true;
          plan.value_buffer[i][0] = b;
          layout[i][0] = fake(node.outputs[0]);
          extend(b, last_use[i][0]);
          continue;
        }
      }
      plan.value_buffer[i][k] = new_buffer(size, i, last_use[i][k], kind[i][k]);
      layout[i][k] = fake(node.outputs[k]);
    }
  }
  // A value nobody reads still needs its bytes while its producer runs.
  for (Buffer& b : plan.buffers) b.last = keep_all ? INT32_MAX : std::max(b.last, b.first);
  plan.arena_bytes = assign_offsets(plan.buffers);
  return plan;
}

}  // namespace duet::detail
