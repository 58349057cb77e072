// The eager-vs-graph equivalence checker.
//
// 1. Eager run: N steps of forward, loss, backward, optimizer step; record outputs, loss,
//    gradients, parameters and buffers after each step (and the state before each step).
// 2. Graph run from the same initial state: the same step as one compiled training graph.
// 3. Compare step by step. At the first difference beyond tolerance, localise it: from the
//    eager state before that step, run the step eagerly with an op observer (every op's
//    outputs) and as a debug graph that keeps every intermediate; line the two op sequences
//    up in order and name the first graph node whose value differs, with its source location.
//
// Device: everything runs where the model's parameters are. Inputs are copied there once;
// snapshots (clones) stay on that device, so saving and restoring state never crosses the
// bus; only the comparisons read values on the host.
#include "duet/equivalence.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <sstream>

#include "core/copy.h"
#include "duet/amp.h"
#include "duet/autograd.h"
#include "duet/graph.h"
#include "duet/optim/sgd.h"
#include "graph/passes.h"

namespace duet {
namespace {

using Named = std::vector<std::pair<std::string, Tensor>>;

struct StepRecord {
  Tensor output, loss;
  Named grads, params, buffers;
};

Tensor snapshot(const Tensor& t) {
  NoGradGuard ng;
  return t.defined() ? t.detach().clone() : Tensor();
}

Named named_grads(const Named& params) {
  Named r;
  for (const auto& [n, p] : params) r.emplace_back(n, snapshot(p.grad()));
  return r;
}

struct OpRecord {
  const OpDef* op;
  std::vector<Tensor> outputs;
};

void observe(void* ctx, const OpDef& op, const std::vector<Tensor>& outputs) {
  auto* log = static_cast<std::vector<OpRecord>*>(ctx);
  OpRecord r{&op, {}};
  // A raw copy, not the clone op: an op here would call the observer again.
  for (const Tensor& t : outputs) r.outputs.push_back(detail::contiguous_copy(t));
  log->push_back(std::move(r));
}

// Where the model lives: the device of its first parameter (or buffer); the CPU for a model
// with neither. A model split over several devices is refused by the ops themselves.
Device model_device(nn::Module& model) {
  for (const auto& [n, p] : model.named_parameters())
    if (p.defined()) return p.device();
  for (const auto& [n, b] : model.named_buffers())
    if (b.defined()) return b.device();
  return cpu;
}

Tensor on_device(const Tensor& t, Device device) {
  NoGradGuard ng;
  return !t.defined() || t.device() == device ? t : t.to(device);
}

Tensor on_host(const Tensor& t) {
  return on_device(t, cpu);
}

// EquivalenceOptions::autocast on the graph side: the "autocast" pass on the forward graph
// (out, loss) before gradients() is called, as compile() runs it before autodiff; out and
// loss are refreshed (the pass renumbers nodes).
void autocast_forward(Graph& g, Tensor& out, Tensor& loss, std::optional<DType> autocast) {
  if (!autocast) return;
  std::vector<detail::ValueRef> refs{detail::graph_value(out)->ref,
                                     detail::graph_value(loss)->ref};
  const CompileOptions opts{.autocast = autocast};
  detail::PassContext ctx{*g.data(), refs, opts};
  detail::insert_autocast(ctx);
  out = g.data()->symbolic(refs[0]);
  loss = g.data()->symbolic(refs[1]);
}

}  // namespace

double relative_difference(const Tensor& a, const Tensor& b) {
  if (!a.defined() && !b.defined()) return 0.0;
  if (!a.defined() || !b.defined() || a.shape() != b.shape())
    return std::numeric_limits<double>::infinity();
  std::vector<double> x = on_host(a).to_vector<double>(), y = on_host(b).to_vector<double>();
  double diff = 0, scale = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i]) != std::isnan(y[i])) return std::numeric_limits<double>::infinity();
    if (std::isnan(x[i])) continue;
    diff = std::max(diff, std::abs(x[i] - y[i]));
    scale = std::max(scale, std::abs(y[i]));
  }
  return diff / std::max(scale, 1e-12);
}

std::string EquivalenceReport::str() const {
  std::ostringstream os;
  if (equivalent) {
    os << "eager and graph agree over " << steps << " steps (max relative difference "
       << max_rel_diff << ": loss " << max_rel_diff_loss << ", outputs " << max_rel_diff_outputs
       << ", gradients " << max_rel_diff_grads << ", parameters " << max_rel_diff_params
       << ", buffers " << max_rel_diff_buffers << ")";
  } else {
    os << "step " << first_bad_step << ": " << first_bad_value << " differs between eager and "
       << "graph (max relative difference " << max_rel_diff << ")";
    if (!diverging_node.empty()) os << "; first diverging graph node: " << diverging_node;
  }
  return os.str();
}

EquivalenceReport check_equivalence(nn::Module& model, const LossFn& loss,
                                    const std::vector<std::pair<Tensor, Tensor>>& inputs, int steps,
                                    const EquivalenceOptions& options) {
  DUET_CHECK(!inputs.empty(), "check_equivalence: no inputs (expected at least one (x, y) pair)");
  DUET_CHECK(steps >= 1, "check_equivalence: steps = ", steps, " (expected >= 1)");
  const Device device = model_device(model);
  std::vector<std::pair<Tensor, Tensor>> moved;
  auto elsewhere = [&](const Tensor& t) { return t.defined() && t.device() != device; };
  const bool move = std::any_of(inputs.begin(), inputs.end(), [&](const auto& xy) {
    return elsewhere(xy.first) || elsewhere(xy.second);
  });
  if (move)
    for (const auto& [x, y] : inputs)
      moved.emplace_back(on_device(x, device), on_device(y, device));
  const std::vector<std::pair<Tensor, Tensor>>& feeds = move ? moved : inputs;
  OptimizerFactory make_opt = options.optimizer;
  if (!make_opt)
    make_opt = [](std::vector<Tensor> p) {
      return std::make_unique<optim::SGD>(std::move(p), 0.01, 0.9);
    };
  const double tol = options.bit_exact ? 0.0 : options.rtol;
  const Named initial = nn::clone_state_dict(model.state_dict());
  const Named params = model.named_parameters();
  std::vector<Tensor> param_tensors;
  for (const auto& [n, p] : params) param_tensors.push_back(p);
  auto buffers = [&] { return nn::clone_state_dict(model.named_buffers()); };
  const bool was_training = model.is_training();
  model.train();

  // ---- eager ----
  std::vector<StepRecord> eager(steps);
  std::vector<Named> eager_before(steps);
  std::vector<Generator> gen_before(steps);
  manual_seed(options.seed);
  {
    auto opt = make_opt(param_tensors);
    for (int k = 0; k < steps; ++k) {
      const auto& [x, y] = feeds[k % feeds.size()];
      eager_before[k] = nn::clone_state_dict(model.state_dict());
      gen_before[k] = default_generator();
      opt->zero_grad();
      Tensor out, l;
      {
        std::optional<AutocastGuard> scope;
        if (options.autocast) scope.emplace(*options.autocast);
        out = model(x);
        l = loss(out, y);
      }
      l.backward();
      eager[k].output = snapshot(out);
      eager[k].loss = snapshot(l);
      eager[k].grads = named_grads(params);
      opt->step();
      eager[k].params = nn::clone_state_dict(params);
      eager[k].buffers = buffers();
    }
    opt->zero_grad();
  }

  // ---- graph ----
  model.load_state_dict(initial);
  manual_seed(options.seed);
  std::vector<StepRecord> graph(steps);
  const auto& [x0, y0] = feeds[0];
  {
    auto opt = make_opt(param_tensors);
    Graph g({.training = true});
    Tensor xs = g.input("x", x0.shape(), x0.dtype(), x0.device());
    Tensor ys = g.input("y", y0.shape(), y0.dtype(), y0.device());
    Tensor out = model(xs);
    Tensor l = loss(out, ys);
    autocast_forward(g, out, l, options.autocast);
    std::vector<Tensor> grads = gradients(l, param_tensors);
    opt->apply_gradients(grads);
    std::vector<Tensor> outs{out, l};
    std::vector<int> grad_slot(grads.size(), -1);
    for (size_t i = 0; i < grads.size(); ++i) {
      if (!grads[i].defined()) continue;
      grad_slot[i] = static_cast<int>(outs.size());
      outs.push_back(grads[i]);
    }
    Executable exe = compile(g, outs,
                             {.training = true,
                              .bit_exact = options.bit_exact,
                              .disabled_passes = options.disabled_passes,
                              .cuda_graph = options.cuda_graph});
    for (int k = 0; k < steps; ++k) {
      const auto& [x, y] = feeds[k % feeds.size()];
      std::vector<Tensor> r = exe.run({{"x", x}, {"y", y}});
      graph[k].output = snapshot(r[0]);
      graph[k].loss = snapshot(r[1]);
      for (size_t i = 0; i < params.size(); ++i)
        graph[k].grads.emplace_back(params[i].first,
                                    grad_slot[i] >= 0 ? snapshot(r[grad_slot[i]]) : Tensor());
      graph[k].params = nn::clone_state_dict(params);
      graph[k].buffers = buffers();
    }
  }

  // ---- compare ----
  EquivalenceReport rep;
  auto check = [&](int k, const std::string& what, const Tensor& e, const Tensor& gr,
                   double& category) {
    const double d = relative_difference(gr, e);
    category = std::max(category, d);
    rep.max_rel_diff = std::max(rep.max_rel_diff, d);
    if (d > tol && rep.equivalent) {
      rep.equivalent = false;
      rep.first_bad_step = k;
      rep.first_bad_value = what;
    }
  };
  for (int k = 0; k < steps && rep.equivalent; ++k) {
    rep.steps = k + 1;
    check(k, "output", eager[k].output, graph[k].output, rep.max_rel_diff_outputs);
    check(k, "loss", eager[k].loss, graph[k].loss, rep.max_rel_diff_loss);
    for (size_t i = 0; i < params.size(); ++i)
      check(k, "grad " + params[i].first, eager[k].grads[i].second, graph[k].grads[i].second,
            rep.max_rel_diff_grads);
    for (size_t i = 0; i < params.size(); ++i)
      check(k, "param " + params[i].first, eager[k].params[i].second, graph[k].params[i].second,
            rep.max_rel_diff_params);
    for (size_t i = 0; i < eager[k].buffers.size(); ++i)
      check(k, "buffer " + eager[k].buffers[i].first, eager[k].buffers[i].second,
            graph[k].buffers[i].second, rep.max_rel_diff_buffers);
  }

  // ---- localise ----
  if (!rep.equivalent) {
    const int k = rep.first_bad_step;
    const auto& [x, y] = feeds[k % feeds.size()];
    std::vector<OpRecord> log;
    model.load_state_dict(eager_before[k]);
    default_generator() = gen_before[k];
    for (const Tensor& p : param_tensors) p.zero_grad();
    set_op_observer(&observe, &log);
    try {
      Tensor l;
      {
        std::optional<AutocastGuard> scope;
        if (options.autocast) scope.emplace(*options.autocast);
        l = loss(model(x), y);
      }
      l.backward();
    } catch (...) {
      set_op_observer(nullptr, nullptr);
      throw;
    }
    set_op_observer(nullptr, nullptr);
    for (const Tensor& p : param_tensors) p.zero_grad();

    model.load_state_dict(eager_before[k]);
    default_generator() = gen_before[k];
    Graph g({.training = true});
    Tensor xs = g.input("x", x.shape(), x.dtype(), x.device());
    Tensor ys = g.input("y", y.shape(), y.dtype(), y.device());
    Tensor out_s = model(xs);
    Tensor l = loss(out_s, ys);
    autocast_forward(g, out_s, l, options.autocast);
    std::vector<Tensor> grads = gradients(l, param_tensors);
    // The node producing the value that differed, for when no op-by-op match finds it.
    Tensor bad_value = rep.first_bad_value == "output" ? out_s : l;
    for (size_t i = 0; i < params.size(); ++i)
      if (rep.first_bad_value == "grad " + params[i].first && grads[i].defined())
        bad_value = grads[i];
    const detail::ValueRef bad_ref = detail::graph_value(bad_value)->ref;
    std::vector<Tensor> outs{l, out_s};
    for (const Tensor& gr : grads)
      if (gr.defined()) outs.push_back(gr);
    // Run once, kernel by kernel: no CUDA Graph (it would be captured on a second run only).
    Executable dbg = compile(
        g, outs,
        {.training = true, .disabled_passes = {}, .keep_intermediates = true, .cuda_graph = false});
    dbg.run({{"x", x}, {"y", y}});
    const detail::GraphData& gd = *g.data();
    size_t at = 0;
    for (size_t j = 0; j < gd.nodes.size() && rep.diverging_node.empty(); ++j) {
      const detail::Node& n = gd.nodes[j];
      if (n.kind != detail::NodeKind::op || n.outputs.empty()) continue;
      // Find this op among the next eager records (same op, same output shapes).
      for (size_t s = at; s < log.size() && s < at + 64; ++s) {
        if (log[s].op != n.op || log[s].outputs.size() != n.outputs.size()) continue;
        bool same_shapes = true;
        for (size_t o = 0; o < n.outputs.size(); ++o)
          same_shapes = same_shapes && log[s].outputs[o].shape() == n.outputs[o].shape;
        if (!same_shapes) continue;
        at = s + 1;
        for (size_t o = 0; o < n.outputs.size(); ++o) {
          if (!is_floating(n.outputs[o].dtype)) continue;
          const double d = relative_difference(dbg.value(static_cast<int>(j), static_cast<int>(o)),
                                               log[s].outputs[o]);
          if (d > tol) {
            rep.diverging_node = detail::cat("%", j, " ", n.op->name, " at ", n.loc.str(),
                                             " (output ", o, ", relative difference ", d, ")");
            break;
          }
        }
        break;
      }
    }
    if (rep.diverging_node.empty() && rep.first_bad_value.rfind("param ", 0) != 0 &&
        rep.first_bad_value.rfind("buffer ", 0) != 0) {
      // Every matched op agrees: the difference comes from graph ops eager never ran (model
      // code that branches on is_tracing(), say). Name the node producing the bad value.
      const detail::Node& n = gd.nodes[bad_ref.node];
      rep.diverging_node =
          detail::cat("%", bad_ref.node, " ", n.label(), " at ", n.loc.str(), " (produces the ",
                      rep.first_bad_value, "; eager ran no matching op)");
    }
    if (rep.diverging_node.empty())
      rep.diverging_node =
          "none in forward/backward (the difference is in the optimizer update "
          "or the buffer updates)";
  }
  model.load_state_dict(initial);
  model.train(was_training);
  return rep;
}

}  // namespace duet
