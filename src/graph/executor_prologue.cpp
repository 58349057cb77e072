// The executor's prologue: the hoisted values (pass "hoist": computed from captures only, once,
// outside the arena) and, with CompileOptions::release_weights, the captures that only they
// read.
//
//   plan_prologue  which hoisted values outlive the prologue (kept: a step or an output reads
//                  them) and where every other one, and every releasable capture, is last used
//   run_prologue   run 1: every hoisted node in order; later runs: the chains that read a capture
//                  written since, plus the freed values they need. After each node, what it was
//                  the last use of goes: transient values are freed, captures released when the
//                  executable holds the only reference (model dropped); an output written over a
//                  dying input (an elementwise op, or the weight packing by blocks of 16 output
//                  channels) takes no memory of its own
//
// So the weights of a dropped model exist once: folded and packed, a layer at a time.
#include <algorithm>
#include <functional>

#include "core/copy.h"
#include "graph/executable.h"
#include "nchwc_kernels.h"
#include "profiler/hooks.h"

namespace duet::detail {
namespace {

constexpr int64_t kBlock = kernels::kNchwcBlock;  // channels per block of the packed weights

int64_t bytes_of(const Tensor& t) {
  return t.numel() * static_cast<int64_t>(dtype_size(t.dtype()));
}

}  // namespace

// Which hoisted values outlive the prologue, and when the others (and, with release_weights,
// the captures only hoisted nodes read) are last used in it.
void ExecutableImpl::plan_prologue() {
  const GraphData& g = *graph;
  const int32_t n = static_cast<int32_t>(g.nodes.size());
  hoisted_order.clear();
  prologue_step.assign(n, -1);
  kept.assign(n, 0);
  drop_at.assign(n, {});
  released.assign(n, 0);
  derived_bytes = 0;
  std::vector<int32_t> last_use(n, -1);  // the last hoisted node that reads it (views: theirs)
  for (const ValueRef& r : outputs) kept[r.node] = 1;
  for (int32_t i = 0; i < n; ++i) {
    const Node& node = g.nodes[i];
    if (node.hoisted) hoisted_order.push_back(i);
    if (node.kind == NodeKind::op && !node.hoisted)
      for (const ValueRef& r : node.inputs) kept[r.node] = 1;
  }
  for (int32_t i = n - 1; i >= 0; --i) {
    const Node& node = g.nodes[i];
    if (!node.hoisted) continue;
    if (plan.alias[i]) {
      // A view keeps what it views alive for as long as it is used.
      const int32_t src = node.inputs[0].node;
      kept[src] = kept[src] || kept[i];
      last_use[src] = std::max(last_use[src], std::max(last_use[i], i));
    } else {
      for (const ValueRef& r : node.inputs) last_use[r.node] = std::max(last_use[r.node], i);
    }
  }
  for (int32_t i = 0; i < n; ++i) {
    const Node& node = g.nodes[i];
    const bool transient = node.hoisted && !kept[i];
    const bool releasable = release_weights && node.kind == NodeKind::capture && !kept[i];
    if ((transient || releasable) && last_use[i] >= 0) drop_at[last_use[i]].push_back(i);
  }
  for (auto& d : drop_at) std::sort(d.begin(), d.end(), std::greater<int32_t>());
}

// How op node `node` may compute its outputs for the first time over the memory of one of its
// inputs: that input dies at this node (a transient value, or a capture release_weights lets go
// here), nothing outside the executable holds it, and either
//   - the op is elementwise (OpTrait::inplace: element i is read before element i is written)
//     and its output 0 has the input's shape and dtype (a batch-norm scaling of a conv weight), or
//   - it is nchwc_pack_weight without padding: each block of 16 output channels packs into the
//     same bytes it came from (pack_by_blocks).
ExecutableImpl::Overwrite ExecutableImpl::overwrite_plan(int32_t node) const {
  const GraphData& g = *graph;
  const Node& nd = g.nodes[node];
  if (nd.outputs.empty() || values[node][0].defined()) return {};
  const TensorMeta& out = nd.outputs[0];
  const bool pack = nd.op->id == OpId::nchwc_pack_weight;
  const int32_t k = pack ? 0 : nd.op->has(OpTrait::inplace) ? nd.op->inplace_input : -1;
  if (k < 0 || k >= static_cast<int32_t>(nd.inputs.size())) return {};
  const ValueRef src = nd.inputs[static_cast<size_t>(k)];
  if (std::find(drop_at[node].begin(), drop_at[node].end(), src.node) == drop_at[node].end())
    return {};
  const Node& s = g.nodes[src.node];
  const bool capture = s.kind == NodeKind::capture;
  const Tensor& t = capture ? s.captured : values[src.node][src.output];
  if (!t.defined() || !t.impl()->storage || t.impl()->storage.use_count() != 1 ||
      t.impl_ptr().use_count() != (capture ? 2 : 1) || !t.is_contiguous() || t.dtype() != out.dtype)
    return {};
  for (const Tensor& other : values[src.node])  // a multi-output value's siblings: none here
    if (other.defined() && other.impl() != t.impl()) return {};
  if (!pack) return t.shape() == out.shape ? Overwrite{k, false} : Overwrite{};
  for (size_t j = 1; j < nd.inputs.size(); ++j)
    if (nd.inputs[j] == src) return {};
  const int64_t o = t.shape().empty() ? 0 : t.shape()[0];
  const bool fits = o % kBlock == 0 && !out.shape.empty() && out.shape[0] == o / kBlock &&
                    numel(out.shape) == t.numel();
  return fits ? Overwrite{k, true} : Overwrite{};
}

// nchwc_pack_weight of w (O, ...) into its own memory, O / 16 blocks of 16 output channels one
// after the other: block b's rows are copied aside, then packed into the bytes they held (the
// same offset and size in both layouts without padding); later blocks are still untouched.
void ExecutableImpl::pack_by_blocks(ExecStep& st) {
  const Tensor& w = st.inputs[0];
  const Tensor& out = st.outputs[0];
  const int64_t blocks = w.shape()[0] / kBlock, per_block = w.numel() / blocks;
  Shape rows_shape = w.shape(), block_shape = out.shape();
  rows_shape[0] = kBlock;
  block_shape[0] = 1;
  const Tensor rows = Tensor::empty(rows_shape, w.dtype(), w.device());
  for (int64_t b = 0; b < blocks; ++b) {
    strided_copy(make_view(w, rows_shape, contiguous_strides(rows_shape),
                           w.storage_offset() + b * per_block),
                 rows);
    Tensor block = make_view(out, block_shape, contiguous_strides(block_shape),
                             out.storage_offset() + b * per_block);
    const std::span<const Tensor> in(&rows, 1);
    const std::span<Tensor> out(&block, 1);
    const KernelArgs args{st.attrs, in, out, st.workspace, st.workspace_size, st.device_seed};
    if (st.round_trip)
      run_prepared(*st.round_trip, args);
    else
      st.kernel(args);
  }
}

// Lets go of capture `node` (release_weights): the graph's node and values[node] no longer
// hold it.
void ExecutableImpl::release(int32_t node) {
  Node& nd = graph->nodes[node];
  report.released += bytes_of(nd.captured);
  graph->capture_of.erase(nd.captured.impl());
  values[node][0] = Tensor();
  nd.captured = Tensor();
  released[node] = 1;
}

void ExecutableImpl::drop_after_use(int32_t node) {
  GraphData& g = *graph;
  Node& nd = g.nodes[node];
  if (nd.kind != NodeKind::capture) {
    for (Tensor& t : values[node]) t = Tensor();  // a transient hoisted value
    return;
  }
  // release_weights: the executable's two handles (the node's and values[node]) must be the
  // only ones on the tensor, and the tensor the only one on its storage (no view of it, no
  // host read, no model, optimizer or user handle left).
  const Tensor& t = nd.captured;
  if (released[node] || !t.defined() || t.impl_ptr().use_count() != 2 || !t.impl()->storage ||
      t.impl()->storage.use_count() != 1)
    return;
  release(node);
}

void ExecutableImpl::run_prologue(bool profiling) {
  GraphData& g = *graph;
  const size_t n = g.nodes.size();
  std::vector<char> todo(n, 0);
  if (!prologue_done) {
    for (int32_t i : hoisted_order) todo[i] = 1;
  } else {
    std::vector<char> changed(n, 0);
    for (const PrologueSource& src : prologue_sources) changed[src.node] = source_changed(src);
    for (int32_t i : hoisted_order)
      for (const ValueRef& r : g.nodes[i].inputs)
        todo[i] = todo[i] || changed[r.node] || todo[r.node];
    // A value to recompute needs its inputs: the freed ones are recomputed too, from the
    // captures.
    for (auto it = hoisted_order.rbegin(); it != hoisted_order.rend(); ++it) {
      if (!todo[*it]) continue;
      for (const ValueRef& r : g.nodes[*it].inputs)
        if (g.nodes[r.node].hoisted && !values[r.node][r.output].defined()) todo[r.node] = 1;
    }
    // Released captures the recomputation would read: an error naming them all.
    std::string gone, written;
    int32_t first_reader = -1;
    std::vector<char> named(n, 0);
    auto describe = [&](int32_t c) {
      const Node& nd = g.nodes[c];
      return cat("%", c, " of shape ", shape_str(nd.outputs[0].shape), " (used at ", nd.loc.str(),
                 ")");
    };
    for (int32_t i : hoisted_order)
      for (const ValueRef& r : g.nodes[i].inputs)
        if (todo[i] && released[r.node] && !named[r.node]) {
          named[r.node] = 1;
          if (first_reader < 0) first_reader = i;
          gone += (gone.empty() ? "" : ", ") + describe(r.node);
        }
    if (first_reader >= 0) {
      for (const PrologueSource& src : prologue_sources)
        if (changed[src.node]) written += (written.empty() ? "" : ", ") + describe(src.node);
      const Node& reader = g.nodes[first_reader];
      throw Error(cat("run: graph #", g.id, ": captured tensor ", written,
                      " was written, so the values derived from it must be computed again (node %",
                      first_reader, ", ", reader.label(), ", created at ", reader.loc.str(),
                      ", first), but they read captured tensor ", gone,
                      ", released after the first run by CompileOptions::release_weights "
                      "(nothing outside the executable held it then); expected the weights that "
                      "change to be held outside the executable, or compile without "
                      "release_weights"));
    }
  }
  for (int32_t i : hoisted_order) {
    if (!todo[i]) continue;
    const Node& node = g.nodes[i];
    if (prologue_step[i] < 0) {
      const ValueRef src = node.inputs[0];
      if (!values[i][0].defined())
        values[i][0] = node.op->view(values[src.node][src.output], node.outputs[0], node.attrs);
    } else {
      ExecStep& st = prologue[prologue_step[i]];
      const PreparedCall& call = plan.calls[i];
      // Written over a dying input where possible: the weight and what is derived from it
      // never take memory together.
      const Overwrite over = overwrite_plan(i);
      for (const ValueRef& r : node.inputs) st.inputs.push_back(values[r.node][r.output]);
      for (size_t k = 0; k < node.outputs.size(); ++k) {
        if (values[i][k].defined()) continue;  // kept: recomputed in place
        const TensorMeta& m = node.outputs[k];
        if (k == 0 && over.input >= 0) {
          const Tensor& src = st.inputs[static_cast<size_t>(over.input)];
          values[i][0] = make_view(src, m.shape, contiguous_strides(m.shape), src.storage_offset());
        } else {
          values[i][k] = Tensor::empty(m.shape, m.dtype, m.device);
        }
      }
      st.outputs = values[i];
      for (int32_t k : call.copies) {
        Tensor staged =
            Tensor::empty(st.inputs[k].shape(), st.inputs[k].dtype(), st.inputs[k].device());
        st.staging.push_back({st.inputs[k], staged});
        st.inputs[k] = staged;
      }
      Tensor workspace;
      st.workspace_size = call.workspace_bytes;
      if (st.workspace_size) {
        // int64 elements: 8-byte aligned at least; the allocators align to 64 (CPU) or 256.
        workspace =
            Tensor::empty({static_cast<int64_t>((st.workspace_size + 7) / 8)}, int64, device);
        st.workspace = workspace.data_ptr();
      }
      auto unbind = [&] {
        st.inputs.clear();
        st.outputs.clear();
        st.staging.clear();
        st.workspace = nullptr;
      };
      try {
        if (over.by_blocks) {
          profiler::detail::Scope scope;
          if (profiling) {
            scope.start(profiler::EventKind::graph_node, st.op->name.c_str(), &st.inputs, device);
            scope.set_graph(g.id, st.node);
          }
          pack_by_blocks(st);
        } else if (profiling) {
          run_step_profiled(st);
        } else {
          run_step(st);
        }
      } catch (...) {
        unbind();
        // A capture partly written over is lost: released, so that a later run says so.
        if (over.input >= 0 && g.nodes[node.inputs[over.input].node].kind == NodeKind::capture) {
          values[i][0] = Tensor();
          release(node.inputs[over.input].node);
        }
        throw;
      }
      unbind();
      // A capture written over is released now (the output holds its memory).
      const ValueRef src =
          over.input >= 0 ? node.inputs[static_cast<size_t>(over.input)] : ValueRef{};
      if (src.valid() && g.nodes[src.node].kind == NodeKind::capture) release(src.node);
    }
    for (int32_t d : drop_at[i]) drop_after_use(d);
  }
  // Transient values whose last reader did not need to run this time.
  for (int32_t i : hoisted_order)
    if (!kept[i])
      for (Tensor& t : values[i]) t = Tensor();
  for (PrologueSource& src : prologue_sources) {
    const Tensor& t = g.nodes[src.node].captured;
    if (!t.defined()) continue;
    src.version = t.impl()->storage->version;
    src.data = t.data_ptr();
  }
  if (!prologue_done) bind_hoisted_values();
  prologue_done = true;
}

// After the first prologue: the steps and outputs that read kept hoisted values point at
// them (they stay where they are from then on: recomputing writes them in place).
void ExecutableImpl::bind_hoisted_values() {
  for (const HoistedUse& u : hoisted_uses) {
    const Tensor& v = values[u.value.node][u.value.output];
    if (u.staging >= 0)
      steps[u.step].staging[u.staging].first = v;
    else
      steps[u.step].inputs[u.input] = v;
  }
  for (size_t j = 0; j < outputs.size(); ++j)
    if (graph->nodes[outputs[j].node].hoisted)
      output_tensors[j] = values[outputs[j].node][outputs[j].output];
}

}  // namespace duet::detail
