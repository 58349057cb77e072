// The executor: runs the planned node list with preassigned buffers.
#include <chrono>
#include <map>

#include "core/copy.h"
#include "graph/executable.h"

namespace duet::detail {
namespace {

void* align_up_ptr(char* p) {
  const auto v = reinterpret_cast<uintptr_t>(p);
  return reinterpret_cast<void*>((v + 63) & ~uintptr_t{63});
}

}  // namespace

void ExecutableImpl::build() {
  GraphData& g = *graph;
  const int32_t n = static_cast<int32_t>(g.nodes.size());
  arena.reset();
  if (plan.arena_bytes > 0)
    arena = std::make_shared<Storage>(static_cast<size_t>(plan.arena_bytes), cpu);
  auto arena_view = [&](int32_t buffer, const TensorMeta& m) {
    auto impl = std::make_shared<TensorImpl>();
    impl->storage =
        std::make_shared<Storage>(static_cast<char*>(arena->data) + plan.buffers[buffer].offset,
                                  static_cast<size_t>(plan.buffers[buffer].size), m.device);
    impl->shape = m.shape;
    impl->strides = contiguous_strides(m.shape);
    impl->dtype = m.dtype;
    impl->device = m.device;
    return Tensor(std::move(impl));
  };

  values.assign(n, {});
  steps.clear();
  prologue.clear();
  prologue_sources.clear();
  prologue_scratch.clear();
  feeds.clear();
  for (int32_t i = 0; i < n; ++i) {
    const Node& node = g.nodes[i];
    values[i].resize(node.outputs.size());
    if (node.kind == NodeKind::capture) {
      DUET_CHECK(node.captured.is_contiguous(), "compile: captured tensor %", i, " of shape ",
                 shape_str(node.captured.shape()), " (used at ", node.loc.str(),
                 ") is a non-contiguous view; expected a contiguous tensor");
      values[i][0] = node.captured;
      continue;
    }
    if (node.kind == NodeKind::input) {
      values[i][0] = arena_view(plan.value_buffer[i][0], node.outputs[0]);
      feeds.push_back({node.name, node.outputs[0], node.loc, values[i][0]});
      continue;
    }
    ExecStep step;
    step.op = node.op;
    step.attrs = node.attrs;
    step.node = i;
    for (const ValueRef& r : node.inputs) step.inputs.push_back(values[r.node][r.output]);
    if (plan.alias[i]) {
      // A view: an alias of its input, exactly as in eager mode; no step to run.
      values[i][0] = node.op->view(step.inputs[0], node.outputs[0], node.attrs);
      continue;
    }
    const bool is_derived = i < static_cast<int32_t>(derived.size()) && derived[i];
    if (is_derived) {
      // Outside the arena: its own tensors, kept between runs.
      for (size_t k = 0; k < node.outputs.size(); ++k) {
        values[i][k] =
            Tensor::empty(node.outputs[k].shape, node.outputs[k].dtype, node.outputs[k].device);
        step.outputs.push_back(values[i][k]);
      }
      for (size_t k = 0; k < node.inputs.size(); ++k) {
        if (!step.inputs[k].is_contiguous() && !node.op->strided_inputs && !node.op->view) {
          Tensor staged = Tensor::empty(step.inputs[k].shape(), step.inputs[k].dtype(),
                                        step.inputs[k].device());
          step.staging.push_back({step.inputs[k], staged});
          step.inputs[k] = staged;
        }
      }
      if (node.op->workspace_bytes) {
        std::vector<TensorMeta> in_metas;
        for (const ValueRef& r : node.inputs) in_metas.push_back(g.meta(r));
        step.workspace_size = node.op->workspace_bytes(in_metas, node.outputs, node.attrs);
        if (step.workspace_size) {
          prologue_scratch.emplace_back(step.workspace_size + 64);
          step.workspace = align_up_ptr(prologue_scratch.back().data());
        }
      }
    }
    for (const auto& [k, b] : plan.staging[i]) {
      Tensor staged = arena_view(b, g.meta(node.inputs[k]));
      step.staging.push_back({step.inputs[k], staged});
      step.inputs[k] = staged;
    }
    for (size_t k = 0; k < node.outputs.size() && !is_derived; ++k) {
      values[i][k] = arena_view(plan.value_buffer[i][k], node.outputs[k]);
      step.outputs.push_back(values[i][k]);
    }
    if (plan.workspace_buffer[i] >= 0) {
      step.workspace =
          static_cast<char*>(arena->data) + plan.buffers[plan.workspace_buffer[i]].offset;
      step.workspace_size = plan.workspace_size[i];
    }
    step.materialize_view = node.op->view != nullptr;
    if (!step.materialize_view) {
      const Device dev = !node.outputs.empty() ? node.outputs[0].device
                         : node.inputs.empty() ? cpu
                                               : g.meta(node.inputs[0]).device;
      step.kernel = node.op->kernels[static_cast<int>(dev.type)];
      DUET_CHECK(step.kernel, node.op->name, ": no kernel for device ", dev, " (node %", i, " at ",
                 node.loc.str(), ")");
    }
    (is_derived ? prologue : steps).push_back(std::move(step));
  }
  // The captures the derived values read, directly or through views (which are derived
  // nodes too, but run no step).
  for (int32_t i = 0; i < n && !prologue.empty(); ++i) {
    if (i >= static_cast<int32_t>(derived.size()) || !derived[i]) continue;
    for (const ValueRef& r : g.nodes[i].inputs)
      if (g.nodes[r.node].kind == NodeKind::capture)
        prologue_sources.push_back({g.nodes[r.node].captured, 0});
  }
  prologue_done = false;
  output_tensors.clear();
  for (const ValueRef& r : outputs) output_tensors.push_back(values[r.node][r.output]);
}

void ExecutableImpl::run_step(ExecStep& st) {
  if (st.op->random) st.attrs.set("seed", static_cast<int64_t>(default_generator().next_u64()));
  for (auto& [value, staged] : st.staging) strided_copy(value, staged);
  if (st.materialize_view) {
    // reshape of a non-contiguous value: the same elements in row-major order.
    const Tensor& in = st.inputs[0];
    const Tensor& out = st.outputs[0];
    strided_copy(in,
                 make_view(out, in.shape(), contiguous_strides(in.shape()), out.storage_offset()));
  } else {
    st.kernel({st.attrs, st.inputs, st.outputs, st.workspace, st.workspace_size});
    if (st.op->mutates_inputs)
      for (size_t k = 0; k < st.inputs.size(); ++k)
        if (has_bit(st.op->mutates_inputs, k)) st.inputs[k].impl()->storage->version++;
  }
}

std::vector<Tensor> ExecutableImpl::run(const std::map<std::string, Tensor>& fed) {
  for (const auto& [name, t] : fed) {
    bool known = false;
    for (const FeedSlot& s : feeds) known = known || s.name == name;
    DUET_CHECK(
        known, "run: feed '", name, "' is not an input of this graph (inputs: ",
        [&] {
          std::string s;
          for (const FeedSlot& f : feeds) s += (s.empty() ? "" : ", ") + f.name;
          return s.empty() ? std::string("none") : s;
        }(),
        ")");
  }
  for (FeedSlot& s : feeds) {
    auto it = fed.find(s.name);
    DUET_CHECK(it != fed.end(), "run: input '", s.name, "' (declared at ", s.loc.str(),
               ") was not fed; expected a tensor of shape ", shape_str(s.meta.shape), " ",
               dtype_name(s.meta.dtype));
    const Tensor& t = it->second;
    DUET_CHECK(t.defined() && !t.is_symbolic(), "run: input '", s.name,
               "' is undefined or symbolic; expected a concrete tensor");
    DUET_CHECK(t.shape() == s.meta.shape && t.dtype() == s.meta.dtype, "run: input '", s.name,
               "' (declared at ", s.loc.str(), ") got shape ", shape_str(t.shape()), " ",
               dtype_name(t.dtype()), "; expected ", shape_str(s.meta.shape), " ",
               dtype_name(s.meta.dtype));
    DUET_CHECK(t.device() == s.meta.device, "run: input '", s.name, "' is on ", t.device(),
               "; expected ", s.meta.device);
    strided_copy(t, s.buffer);
  }
  // Derived constants: recomputed only when a capture they read was written since.
  bool stale = !prologue_done;
  for (const auto& [t, version] : prologue_sources)
    stale = stale || t.impl()->storage->version != version;
  if (stale) {
    for (ExecStep& st : prologue) run_step(st);
    for (auto& [t, version] : prologue_sources) version = t.impl()->storage->version;
    prologue_done = true;
  }
  for (size_t si = 0; si < steps.size(); ++si) {
    const auto t0 =
        step_seconds ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    run_step(steps[si]);
    if (step_seconds)
      (*step_seconds)[si] +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  return output_tensors;
}

}  // namespace duet::detail
