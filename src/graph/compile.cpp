// compile(): train/eval check, autodiff + optimizer update (training), the pass pipeline,
// the memory plan and the executable.
#include <chrono>
#include <iostream>

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
    const bool update = n.op->name == "sgd_step_" || n.op->name == "adam_step_";
    for (size_t k = 2; update && k < n.inputs.size(); ++k) optimizer_state[n.inputs[k].node] = true;
  }
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const detail::Node& n = g.nodes[i];
    if (n.kind != NodeKind::capture) continue;
    const int64_t bytes = n.captured.numel() * static_cast<int64_t>(dtype_size(n.captured.dtype()));
    if (n.captured.requires_grad()) r.parameters += bytes;
    else if (optimizer_state[i]) r.optimizer_state += bytes;
    else r.buffers += bytes;
  }
  int64_t ws_peak = 0;
  for (const detail::Buffer& b : plan.buffers) {
    if (b.kind == detail::BufferKind::gradient) r.gradients += b.size;
    if (b.kind == detail::BufferKind::workspace) ws_peak = std::max(ws_peak, b.size);
  }
  r.arena = plan.arena_bytes;
  r.workspace = ws_peak;
  r.activations = std::max<int64_t>(0, r.arena - r.gradients - r.workspace);
  return r;
}

}  // namespace

std::string MemoryReport::str() const {
  auto mb = [](int64_t b) { return detail::cat(b / 1024.0 / 1024.0, " MiB"); };
  return detail::cat("parameters ", mb(parameters), ", gradients ", mb(gradients),
                     ", optimizer state ", mb(optimizer_state), ", buffers ", mb(buffers),
                     ", activations ", mb(activations), ", workspace ", mb(workspace),
                     " (arena ", mb(arena), ", total ", mb(total()), ")");
}

Executable::Executable() = default;
Executable::~Executable() = default;
Executable::Executable(Executable&&) noexcept = default;
Executable& Executable::operator=(Executable&&) noexcept = default;

std::vector<Tensor> Executable::run(const std::map<std::string, Tensor>& feeds) {
  DUET_CHECK(impl_, "Executable::run: this executable is empty (not compiled)");
  return impl_->run(feeds);
}
MemoryReport Executable::memory_report() const { return impl_->report; }
std::string Executable::dump() const { return impl_->graph->dump(); }
std::string Executable::to_dot() const { return impl_->graph->to_dot(); }
const std::vector<PassStat>& Executable::pass_stats() const { return impl_->pass_stats; }
double Executable::compile_ms() const { return impl_->compile_ms; }
size_t Executable::num_nodes() const { return impl_->graph->nodes.size(); }
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
             g->training ? "training" : "eval", " (GraphOptions::training = ",
             g->training ? "true" : "false", ") but CompileOptions::training = ",
             options.training ? "true" : "false", "; expected the same mode");
  DUET_CHECK(!outputs.empty(), "compile: no outputs requested (expected at least one tensor)");
  std::vector<detail::ValueRef> outs;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const detail::GraphValue* gv = detail::graph_value(outputs[i]);
    DUET_CHECK(gv && gv->graph == g, "compile: output ", i,
               " is not a value of this graph (expected a tensor computed from its inputs)");
    outs.push_back(gv->ref);
  }
  if (options.optimizer) {
    DUET_CHECK(options.training, "compile: an optimizer was given for an eval graph");
    DUET_CHECK(outputs[0].numel() == 1, "compile: with an optimizer, output 0 is the loss and "
               "must have one element; got shape ", shape_str(outputs[0].shape()));
    DUET_CHECK(g->building, "compile: graph #", g->id, " was already compiled");
    std::vector<Tensor> grads = gradients(outputs[0], options.optimizer->params());
    options.optimizer->apply_gradients(grads);
  }
  graph.end_build();

  auto impl = std::make_unique<detail::ExecutableImpl>();
  detail::PassContext ctx{*g, outs, options};
  for (const detail::Pass& pass : detail::pass_pipeline()) {
    if (options.keep_intermediates) break;
    if (options.disabled_passes.count(pass.name)) continue;
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
  impl->plan = detail::plan_memory(*g, outs,
                                   !options.disabled_passes.count("inplace") &&
                                       !options.keep_intermediates,
                                   options.keep_intermediates);
  impl->build();
  impl->report = make_report(*g, impl->plan);
  impl->compile_ms = ms_since(t0);
  Executable exe;
  exe.impl_ = std::move(impl);
  return exe;
}

}  // namespace duet
