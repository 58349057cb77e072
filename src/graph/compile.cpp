// compile(): train/eval check, autodiff + optimizer update (training), the pass pipeline,
// the memory plan and the executable.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "duet/amp.h"
#include "duet/cuda.h"
#include "duet/memory.h"
#include "duet/optim/optimizer.h"
#include "graph/executable.h"
#include "graph/passes.h"

namespace duet {

using detail::NodeKind;

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

MemoryReport make_report(const detail::GraphData& g, const detail::MemoryPlan& plan) {
  MemoryReport r;
  std::vector<bool> optimizer_state(g.nodes.size(), false);
  for (const detail::Node& n : g.nodes) {
    if (n.kind != NodeKind::op) continue;
    // The captures an optimizer update (sgd_step_, adam_step_ and their fusions) reads that
    // are not parameters are optimizer state (moments, lr, step).
    const bool update = n.op->has(OpTrait::optimizer_update);
    for (size_t k = 0; update && k < n.inputs.size(); ++k) optimizer_state[n.inputs[k].node] = true;
  }
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const detail::Node& n = g.nodes[i];
    if (n.kind != NodeKind::capture) continue;
    const int64_t bytes = n.captured.numel() * static_cast<int64_t>(dtype_size(n.captured.dtype()));
    if (n.captured.requires_grad())
      r.parameters += bytes;
    else if (optimizer_state[i] && n.kind == NodeKind::capture)
      r.optimizer_state += bytes;
    else
      r.buffers += bytes;
  }
  // Gradients and workspace: the most bytes of each kind live at any one node.
  int64_t ws_peak = 0;
  for (size_t t = 0; t < g.nodes.size(); ++t) {
    int64_t grads = 0, ws = 0;
    for (const detail::Buffer& b : plan.buffers) {
      if (b.first > static_cast<int32_t>(t) || b.last < static_cast<int32_t>(t)) continue;
      if (b.kind == detail::BufferKind::gradient) grads += b.size;
      if (b.kind == detail::BufferKind::workspace) ws += b.size;
    }
    r.gradients = std::max(r.gradients, grads);
    ws_peak = std::max(ws_peak, ws);
  }
  r.arena = plan.arena_bytes;
  r.workspace = ws_peak;
  r.activations = std::max<int64_t>(0, r.arena - r.gradients - r.workspace);
  return r;
}

}  // namespace

std::string MemoryReport::str() const {
  auto mb = [](int64_t b) { return format_bytes(b); };
  return detail::cat(
      "parameters ", mb(parameters), ", gradients ", mb(gradients), ", optimizer state ",
      mb(optimizer_state), ", buffers ", mb(buffers), ", derived ", mb(derived), ", activations ",
      mb(activations), ", workspace ", mb(workspace), " (arena ", mb(arena),
      capture_scratch ? detail::cat(", CUDA Graph scratch ", mb(capture_scratch)) : "",
      released ? detail::cat(", released ", mb(released)) : "", ", total ", mb(total()), ")");
}

Executable::Executable() = default;
Executable::~Executable() = default;
Executable::Executable(Executable&&) noexcept = default;
Executable& Executable::operator=(Executable&&) noexcept = default;

std::vector<Tensor> Executable::run(const std::map<std::string, Tensor>& feeds) {
  DUET_CHECK(impl_, "Executable::run: this executable is empty (not compiled)");
  if (!impl_->graph->host_reads.empty()) {
    const std::string why = impl_->graph->stale_reason();
    DUET_CHECK(why.empty(), "Executable::run: graph #", impl_->graph->id, " is stale: ", why,
               "; build and compile the graph again (jit retraces by itself)");
  }
  return impl_->run(feeds);
}
std::string Executable::stale_reason() const {
  return impl_ ? impl_->graph->stale_reason() : "";
}
MemoryReport Executable::memory_report() const {
  return impl_->report;
}
std::string Executable::dump() const {
  return impl_->graph->dump();
}
std::string Executable::to_dot() const {
  return impl_->graph->to_dot();
}
const std::vector<PassStat>& Executable::pass_stats() const {
  return impl_->pass_stats;
}
double Executable::compile_ms() const {
  return impl_->compile_ms;
}
size_t Executable::num_nodes() const {
  return impl_->graph->nodes.size();
}
std::string Executable::profile(const std::map<std::string, Tensor>& feeds, int runs) {
  DUET_CHECK(impl_, "Executable::profile: this executable is empty (not compiled)");
  std::vector<double> secs(impl_->steps.size(), 0.0);
  impl_->step_seconds = &secs;
  try {
    for (int r = 0; r < runs; ++r) impl_->run(feeds);
  } catch (...) {
    impl_->step_seconds = nullptr;
    throw;
  }
  impl_->step_seconds = nullptr;
  std::map<std::string, std::pair<double, int>> by_op;
  double total = 0;
  for (size_t i = 0; i < secs.size(); ++i) {
    auto& e = by_op[impl_->steps[i].op->name];
    e.first += secs[i] / runs;
    e.second++;
    total += secs[i] / runs;
  }
  std::vector<std::pair<std::string, std::pair<double, int>>> rows(by_op.begin(), by_op.end());
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  std::ostringstream os;
  os << "op                              ms/run   share  nodes\n";
  for (const auto& [name, e] : rows) {
    char line[160];
    std::snprintf(line, sizeof line, "%-30s %8.4f %6.1f%% %6d\n", name.c_str(), e.first * 1e3,
                  100.0 * e.first / std::max(total, 1e-12), e.second);
    os << line;
  }
  char line[96];
  std::snprintf(line, sizeof line, "%-30s %8.4f\n", "total", total * 1e3);
  os << line;
  return os.str();
}

Device Executable::device() const {
  DUET_CHECK(impl_, "Executable::device: this executable is empty (not compiled)");
  return impl_->device;
}
int Executable::num_captures() const {
  return impl_ ? impl_->captures : 0;
}
const std::string& Executable::last_capture_reason() const {
  DUET_CHECK(impl_, "Executable::last_capture_reason: this executable is empty (not compiled)");
  return impl_->capture_reason;
}

Tensor Executable::value(int node, int output) const {
  DUET_CHECK(impl_ && node >= 0 && node < static_cast<int>(impl_->values.size()) && output >= 0 &&
                 output < static_cast<int>(impl_->values[node].size()),
             "Executable::value: no node %", node, " output ", output);
  return impl_->values[node][output];
}

Executable compile(Graph& graph, const std::vector<Tensor>& outputs,
                   const CompileOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  auto g = graph.data();
  DUET_CHECK(options.training == g->training, "compile: graph #", g->id, " was built for ",
             g->training ? "training" : "eval",
             " (GraphOptions::training = ", g->training ? "true" : "false",
             ") but CompileOptions::training = ", options.training ? "true" : "false",
             "; expected the same mode");
  DUET_CHECK(!g->compiled, "compile: graph #", g->id,
             " was already compiled (an executable "
             "owns it now); build a new Graph to compile again");
  DUET_CHECK(!outputs.empty(), "compile: no outputs requested (expected at least one tensor)");
  // One device for every value: the arena lives there and the kernels run there. Moving a
  // value to another device inside a graph (x.to(cuda)) is an eager-mode operation.
  Device device = cpu;
  bool device_known = false;
  for (size_t i = 0; i < g->nodes.size(); ++i)
    for (const auto& m : g->nodes[i].outputs) {
      if (!device_known) {
        device = m.device;
        device_known = true;
      }
      DUET_CHECK(m.device == device, "compile: graph #", g->id, " has values on ", device,
                 " and on ", m.device, " (node %", i, ", ",
                 g->nodes[i].op ? g->nodes[i].op->name : "input",
                 "); expected every value on one device (move the model and the inputs "
                 "before building the graph)");
    }
  if (device.type != DeviceType::cpu) check_device_available(device);
  std::vector<detail::ValueRef> outs;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const detail::GraphValue* gv = detail::graph_value(outputs[i]);
    DUET_CHECK(gv && gv->graph == g, "compile: output ", i,
               " is not a value of this graph (expected a tensor computed from its inputs)");
    outs.push_back(gv->ref);
  }
  // The passes that implement CompileOptions::autocast run before autodiff, so that the
  // backward graph is the gradient of the rewritten forward graph, as the eager tape is.
  std::vector<PassStat> early_stats;
  for (const detail::Pass& pass : detail::pass_pipeline()) {
    if (!options.autocast || !pass.before_autodiff || options.disabled_passes.count(pass.name))
      continue;
    detail::PassContext early{*g, outs, options};
    if (options.dump_passes) std::cerr << "--- before " << pass.name << "\n" << g->dump();
    const auto tp = std::chrono::steady_clock::now();
    const size_t before = g->nodes.size();
    pass.fn(early);
    early_stats.push_back({pass.name, before, g->nodes.size(), ms_since(tp)});
    if (options.dump_passes) std::cerr << "--- after " << pass.name << "\n" << g->dump();
  }
  if (options.optimizer) {
    DUET_CHECK(options.training, "compile: an optimizer was given for an eval graph");
    DUET_CHECK(outputs[0].numel() == 1,
               "compile: with an optimizer, output 0 is the loss and "
               "must have one element; got shape ",
               shape_str(outputs[0].shape()));
    DUET_CHECK(g->building, "compile: graph #", g->id, " was already compiled");
    // The loss as a fresh symbolic value: a pass above may have renumbered the nodes.
    const Tensor loss = g->symbolic(outs[0]);
    if (options.grad_scaler && options.grad_scaler->enabled()) {
      // Loss scaling (duet/amp.h): the gradients of scale * loss, unscaled and checked for
      // inf/NaN by nodes of this graph; the update is gated on the device and the scale
      // updated, with no host read.
      amp::GradScaler& scaler = *options.grad_scaler;
      scaler.apply_gradients(*options.optimizer,
                             gradients(scaler.scale(loss), options.optimizer->params()));
    } else {
      std::vector<Tensor> grads = gradients(loss, options.optimizer->params());
      options.optimizer->apply_gradients(grads);
    }
  } else {
    DUET_CHECK(!options.grad_scaler, "compile: CompileOptions::grad_scaler needs an optimizer "
               "(loss scaling is part of the training step; expected CompileOptions::optimizer)");
  }
  graph.end_build();
  g->compiled = true;

  auto impl = std::make_unique<detail::ExecutableImpl>();
  impl->pass_stats = std::move(early_stats);
  detail::PassContext ctx{*g, outs, options};
  for (const detail::Pass& pass : detail::pass_pipeline()) {
    if (options.keep_intermediates) break;
    if (pass.before_autodiff || options.disabled_passes.count(pass.name)) continue;
    if (pass.eval_only && options.training) continue;
    if (pass.reorders_math && options.bit_exact) continue;
    if (options.dump_passes) std::cerr << "--- before " << pass.name << "\n" << g->dump();
    const auto tp = std::chrono::steady_clock::now();
    const size_t before = g->nodes.size();
    pass.fn(ctx);
    impl->pass_stats.push_back({pass.name, before, g->nodes.size(), ms_since(tp)});
    if (options.dump_passes) std::cerr << "--- after " << pass.name << "\n" << g->dump();
  }
  impl->graph = g;
  impl->outputs = outs;
  impl->device = device;
  impl->use_cuda_graph = options.cuda_graph && !options.keep_intermediates;
  // The plan honours the last passes' marks: in-place writes (pass "inplace") and values
  // computed once outside the arena (pass "hoist", eval graphs).
  impl->plan = detail::plan_memory(*g, outs, options.keep_intermediates);
  impl->release_weights = options.release_weights && !options.training;
  impl->build();
  impl->report = make_report(*g, impl->plan);
  // The hoisted values kept between runs (those only other hoisted values read are freed
  // after the prologue).
  impl->report.derived = impl->derived_bytes;
  impl->compile_ms = ms_since(t0);
  Executable exe;
  exe.impl_ = std::move(impl);
  return exe;
}

}  // namespace duet
