// The executor: runs the planned node list with preassigned buffers.
#include <chrono>
#include <iostream>
#include <map>

#include "core/copy.h"
#include "core/device_backend.h"
#include "duet/cuda.h"
#include "graph/executable.h"
#include "profiler/hooks.h"

namespace duet::detail {

// A contiguous tensor over arena bytes [offset, offset + bytes) (the arena owns the memory). Before
// the arena exists (allocate_arena) its address is filled in later.
Tensor ExecutableImpl::arena_tensor(int64_t offset, int64_t bytes, const Shape& shape,
                                    DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage =
      std::make_shared<Storage>(arena ? static_cast<char*>(arena->data) + offset : nullptr,
                                static_cast<size_t>(bytes), device);
  if (!arena) unbound_views.push_back({impl->storage, offset});
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  impl->device = device;
  return Tensor(std::move(impl));
}

void ExecutableImpl::allocate_arena() {
  arena = std::make_shared<Storage>(static_cast<size_t>(plan.arena_bytes), device);
  for (auto& [storage, offset] : unbound_views)
    storage->data = static_cast<char*>(arena->data) + offset;
  for (auto& [step, offset] : unbound_workspaces)
    steps[step].workspace = static_cast<char*>(arena->data) + offset;
  unbound_views.clear();
  unbound_workspaces.clear();
}

void ExecutableImpl::build() {
  GraphData& g = *graph;
  const int32_t n = static_cast<int32_t>(g.nodes.size());
  plan_prologue();
  arena.reset();
  unbound_views.clear();
  unbound_workspaces.clear();
  // release_weights: the arena comes after the first prologue, so that the weights being
  // folded or packed (one layer at a time beside the rest) and the activations never need
  // memory at the same time.
  if (plan.arena_bytes > 0 && !(release_weights && !hoisted_order.empty())) allocate_arena();
  auto arena_view = [&](int32_t buffer, const TensorMeta& m) {
    return arena_tensor(plan.buffers[buffer].offset, plan.buffers[buffer].size, m.shape, m.dtype);
  };

  values.assign(n, {});
  hoisted_uses.clear();
  capture_nodes.clear();
  steps.clear();
  prologue.clear();
  prologue_sources.clear();
  feeds.clear();
  for (int32_t i = 0; i < n; ++i) {
    const Node& node = g.nodes[i];
    values[i].resize(node.outputs.size());
    if (node.kind == NodeKind::capture) {
      capture_nodes.push_back(i);
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
      // A view: an alias of its input, exactly as in eager mode; no step to run. Hoisted views
      // are made by the prologue.
      if (!node.hoisted) values[i][0] = node.op->view(step.inputs[0], node.outputs[0], node.attrs);
      continue;
    }
    // The kernel call the planner prepared (ops/prepare.h): kernel, copies, workspace.
    const PreparedCall& call = plan.calls[i];
    step.kernel = call.kernel;
    if (round_trip(call)) step.round_trip = std::make_shared<const PreparedCall>(call);
    step.materialize_view = node.op->view != nullptr;
    const bool hoisted = node.hoisted;
    if (hoisted) {
      // Hoisted: outside the arena, allocated by the prologue when it first computes the value
      // (not now: the captures it is computed from may be released meanwhile, so the two
      // copies never coexist); inputs, copies and scratch are bound while it runs.
      for (size_t k = 0; kept[i] && k < node.outputs.size(); ++k)
        derived_bytes += checked_nbytes(node.outputs[k].shape, dtype_size(node.outputs[k].dtype),
                                        "compile: derived value");
      step.inputs.clear();
      prologue_step[i] = static_cast<int32_t>(prologue.size());
    } else {
      for (const auto& [k, b] : plan.staging[i]) {
        Tensor staged = arena_view(b, g.meta(node.inputs[k]));
        step.staging.push_back({step.inputs[k], staged});
        step.inputs[k] = staged;
      }
      // Inputs the prologue computes: bound after its first run (bind_hoisted_values).
      for (size_t k = 0; k < node.inputs.size(); ++k) {
        if (!g.nodes[node.inputs[k].node].hoisted) continue;
        int32_t staging = -1;
        for (size_t s = 0; s < plan.staging[i].size(); ++s)
          if (plan.staging[i][s].first == static_cast<int32_t>(k))
            staging = static_cast<int32_t>(s);
        hoisted_uses.push_back(
            {static_cast<int32_t>(steps.size()), static_cast<int32_t>(k), staging, node.inputs[k]});
      }
      for (size_t k = 0; k < node.outputs.size(); ++k) {
        values[i][k] = arena_view(plan.value_buffer[i][k], node.outputs[k]);
        step.outputs.push_back(values[i][k]);
      }
      if (plan.workspace_buffer[i] >= 0) {
        const int64_t offset = plan.buffers[plan.workspace_buffer[i]].offset;
        if (arena)
          step.workspace = static_cast<char*>(arena->data) + offset;
        else
          unbound_workspaces.push_back({steps.size(), offset});
        step.workspace_size = plan.workspace_size[i];
      }
    }
    (hoisted ? prologue : steps).push_back(std::move(step));
  }
  // The captures the hoisted values read, directly or through views (which are hoisted
  // nodes too, but run no step).
  std::vector<char> source(n, 0);
  for (int32_t i : hoisted_order)
    for (const ValueRef& r : g.nodes[i].inputs)
      if (g.nodes[r.node].kind == NodeKind::capture && !source[r.node]) {
        source[r.node] = 1;
        prologue_sources.push_back({r.node, 0, nullptr});
      }
  prologue_done = false;
  output_tensors.clear();
  for (const ValueRef& r : outputs) output_tensors.push_back(values[r.node][r.output]);

  random_steps.clear();
  mutated.clear();
  for (ExecStep& st : steps) {
    if (st.op->random) random_steps.push_back(&st);
    for (size_t k = 0; st.op->mutates_inputs && k < st.inputs.size(); ++k)
      if (has_bit(st.op->mutates_inputs, k)) mutated.push_back(st.inputs[k]);
  }
  seeds = Tensor();
  seed_values.assign(random_steps.size(), 0);
  if (device.type != DeviceType::cpu && !random_steps.empty()) {
    const int64_t n = static_cast<int64_t>(random_steps.size());
    seeds = Tensor::zeros({n}, int64, device);
    for (int64_t k = 0; k < n; ++k)
      random_steps[k]->device_seed = static_cast<const uint64_t*>(seeds.data_ptr()) + k;
  }
  use_cuda_graph = use_cuda_graph && device.type == DeviceType::cuda;
  cuda_graph.reset();
  runs = captures = 0;
  captured_addresses.clear();
}

void ExecutableImpl::run_step(ExecStep& st) {
  for (auto& [value, staged] : st.staging) strided_copy(value, staged);
  if (st.materialize_view) {
    // reshape of a non-contiguous value: the same elements in row-major order.
    const Tensor& in = st.inputs[0];
    const Tensor& out = st.outputs[0];
    strided_copy(in,
                 make_view(out, in.shape(), contiguous_strides(in.shape()), out.storage_offset()));
  } else {
    try {
      const KernelArgs args{st.attrs,     st.inputs,         st.outputs,
                            st.workspace, st.workspace_size, st.device_seed};
      if (st.round_trip)
        run_prepared(*st.round_trip, args);
      else
        st.kernel(args);
    } catch (const Error& e) {  // a value checked at run time (a label out of range, ...)
      if (st.node < 0) throw;
      const Node& n = graph->nodes[static_cast<size_t>(st.node)];
      throw Error(cat("run: node %", st.node, " (", n.label(), ", created at ", n.loc.str(),
                      "): ", e.what()));
    }
  }
}

bool ExecutableImpl::source_changed(const PrologueSource& src) const {
  const Tensor& t = graph->nodes[src.node].captured;
  return t.defined() && (t.impl()->storage->version != src.version || t.data_ptr() != src.data);
}

const void* ExecutableImpl::capture_address(int32_t node) const {
  const Tensor& t = graph->nodes[node].captured;
  return t.defined() ? t.data_ptr() : nullptr;
}

void ExecutableImpl::check_feeds(const std::map<std::string, Tensor>& fed) const {
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
  for (const FeedSlot& s : feeds) {
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
    // A host tensor fed to a GPU graph is uploaded into its arena slot (the copy is the
    // transfer); any other device mismatch is an error.
    DUET_CHECK(t.device() == s.meta.device || t.device().type == DeviceType::cpu, "run: input '",
               s.name, "' is on ", t.device(), "; expected ", s.meta.device, " (or cpu)");
  }
}

void ExecutableImpl::bind_feeds(const std::map<std::string, Tensor>& fed) {
  check_feeds(fed);
  for (FeedSlot& s : feeds) strided_copy(fed.find(s.name)->second, s.buffer);
}

// Parameters and other captures are read where they are: they must still be on the graph's
// device (Module::to moves storage in place, so a moved model is caught here).
void ExecutableImpl::check_captures_in_place() {
  for (int32_t i : capture_nodes) {
    const Node& n = graph->nodes[i];
    if (released[i]) continue;
    DUET_CHECK(n.captured.device() == device, "run: captured tensor %", i, " of shape ",
               shape_str(n.captured.shape()), " (used at ", n.loc.str(), ") is now on ",
               n.captured.device(), " but this graph was compiled for ", device,
               "; expected it to stay there (compile again after moving the model)");
  }
}

void ExecutableImpl::draw_seeds() {
  if (random_steps.empty()) return;
  for (size_t k = 0; k < random_steps.size(); ++k) {
    seed_values[k] = static_cast<int64_t>(default_generator().next_u64());
    random_steps[k]->attrs.set("seed", seed_values[k]);
  }
  // Queued before the step's kernels, with no host buffer to keep alive and no host wait.
  if (seeds.defined())
    cuda_write_int64(seeds, seed_values.data(), static_cast<int64_t>(seed_values.size()));
}

// A step as a graph_node event of a profile (duet/profiler.h), nested in the run's event.
void ExecutableImpl::run_step_profiled(ExecStep& st) {
  profiler::detail::Scope scope(profiler::EventKind::graph_node, st.op->name.c_str(), &st.inputs,
                                device);
  scope.set_graph(graph->id, st.node);
  run_step(st);
}

void ExecutableImpl::run_steps(bool profile_nodes) {
  const bool timed = step_seconds != nullptr;
  for (size_t si = 0; si < steps.size(); ++si) {
    const auto t0 =
        timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    if (profile_nodes)
      run_step_profiled(steps[si]);
    else
      run_step(steps[si]);
    if (timed) {
      synchronize(device);  // a GPU step's time is its kernels', not their launch
      (*step_seconds)[si] +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
  }
}

std::string ExecutableImpl::recapture_reason() const {
  if (!cuda_graph || !cuda_graph->ready()) return "first capture";
  const GraphData& g = *graph;
  for (size_t k = 0; k < capture_nodes.size(); ++k) {
    const int32_t node = capture_nodes[k];
    if (capture_address(node) != captured_addresses[k])
      return cat("captured tensor %", node, " of shape ", shape_str(g.nodes[node].outputs[0].shape),
                 " (used at ", g.nodes[node].loc.str(), ") moved to a new storage");
  }
  return "";
}

void ExecutableImpl::capture_and_launch(const std::string& why) {
  if (!cuda_graph) cuda_graph = std::make_unique<CudaGraph>(device);
  const GraphData& g = *graph;
  captured_addresses.clear();
  for (int32_t i : capture_nodes) captured_addresses.push_back(capture_address(i));
  try {
    cuda_graph->begin();
    try {
      run_steps();
    } catch (...) {
      cuda_graph->abort();
      throw;
    }
    cuda_graph->end();
  } catch (const Error& e) {
    // Nothing ran while capturing: run this step kernel by kernel and stop capturing.
    std::cerr << "duet: graph #" << g.id << " on " << device
              << ": CUDA Graph capture failed, running kernel by kernel from now on: " << e.what()
              << "\n";
    use_cuda_graph = false;
    cuda_graph.reset();
    run_steps();
    return;
  }
  ++captures;
  capture_reason = why;
  if (captures > 1)
    std::cerr << "duet: graph #" << g.id << " on " << device
              << ": recapturing the CUDA Graph: " << why << "\n";
  report.capture_scratch = cuda_graph->scratch_bytes();
  cuda_graph->launch();
}

std::vector<Tensor> ExecutableImpl::run(const std::map<std::string, Tensor>& fed) {
  // A profile (duet/profiler.h) sees the run as one "graph #N" event and, when the steps run
  // kernel by kernel (not a CUDA Graph capture or replay), each step as a child event.
  profiler::detail::Scope profile_scope;
  const bool profiling = profiler::detail::recording();
  if (profiling) {
    const std::string name = cat("graph #", graph->id);
    profile_scope.start(profiler::EventKind::graph_run, name.c_str(), nullptr, device);
    profile_scope.set_graph(graph->id);
  }
  if (device.type != DeviceType::cpu) check_captures_in_place();
  // Derived constants: recomputed only when a capture they read was written since (a released
  // capture cannot be: nothing else holds it). Before the feeds: the prologue uses the arena
  // as scratch.
  bool stale = !prologue_done;
  for (const PrologueSource& src : prologue_sources) stale = stale || source_changed(src);
  if (stale) {
    check_feeds(fed);  // no work for a run that fails on its feeds anyway
    run_prologue(profiling);
  }
  if (!arena && plan.arena_bytes > 0) allocate_arena();
  bind_feeds(fed);
  draw_seeds();
  // Run 1 is the warm-up (cuDNN's algorithm search, cuBLAS's first calls); timed runs
  // (profile) are never captured.
  if (!use_cuda_graph || runs == 0 || step_seconds || steps.empty()) {
    run_steps(profiling);
  } else {
    const std::string why = recapture_reason();
    if (why.empty())
      cuda_graph->launch();
    else
      capture_and_launch(why);
  }
  for (const Tensor& t : mutated) t.impl()->storage->version++;
  ++runs;
  return output_tensors;
}

}  // namespace duet::detail
