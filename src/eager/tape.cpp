// The eager tape and backward.
//
// Each op call whose differentiable inputs require grad leaves one TapeNode behind: the op,
// its attrs, the tensors its gradient rule declared it needs (detached aliases, so no
// reference cycles), and an edge per input. backward() walks the nodes reachable from the
// roots in decreasing creation order (a valid reverse topological order), calls each op's
// gradient rule (the same rule graph autodiff uses) and frees the saved tensors.
//
// Grad-ready hooks (duet/autograd.h): when any hook exists, backward first counts, for each
// hooked leaf, the edges that point at it from the nodes reachable from the roots (plus the
// roots that are that leaf), and decrements the count as each such edge is processed,
// whether or not its gradient is defined; at zero the leaf's hooks fire. A node that every
// incoming edge reached without a gradient never runs; its edges then count as processed
// without one. With no hook anywhere backward skips all of this (one atomic load).
#include <atomic>
#include <exception>
#include <mutex>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "core/copy.h"
#include "duet/amp.h"
#include "duet/autograd.h"
#include "duet/ops/elementwise.h"
#include "duet/ops/shape.h"
#include "eager/tape.h"
#include "profiler/hooks.h"

namespace duet {
namespace {
thread_local bool g_grad_enabled = true;
std::atomic<uint64_t> g_seq{0};

// ---- grad-ready hooks: the registry ----
std::mutex g_hook_mutex;              // guards every TensorImpl::grad_ready_hooks and the map
std::atomic<int64_t> g_num_hooks{0};  // backward counts edges only when > 0
int64_t g_next_hook_id = 1;
std::unordered_map<int64_t, std::weak_ptr<detail::TensorImpl>> g_hook_leaf;  // id -> leaf

// The backwards running on this thread, innermost last (a hook may run a backward of its own).
struct BackwardState {
  std::vector<std::function<void()>> callbacks;
};
thread_local std::vector<BackwardState*> g_backward_stack;

bool has_hooks(const detail::TensorImpl* leaf) {  // g_hook_mutex held
  return leaf->grad_ready_hooks && !leaf->grad_ready_hooks->hooks.empty();
}

void fire_hooks(const std::shared_ptr<detail::TensorImpl>& leaf) {
  std::vector<GradReadyHook> fns;
  {
    std::lock_guard<std::mutex> lock(g_hook_mutex);
    if (!leaf->grad_ready_hooks) return;
    for (auto& [id, fn] : leaf->grad_ready_hooks->hooks) fns.push_back(fn);
  }
  Tensor t(leaf);
  for (auto& fn : fns) fn(t);  // outside the lock: a hook may add or remove hooks
}
}  // namespace

int64_t add_grad_ready_hook(const Tensor& leaf, GradReadyHook fn) {
  DUET_CHECK(leaf.defined(), "add_grad_ready_hook: the tensor is undefined");
  DUET_CHECK(leaf.requires_grad() && leaf.is_leaf(),
             "add_grad_ready_hook: expected a leaf that requires grad (a parameter), got a "
             "tensor of shape ",
             shape_str(leaf.shape()),
             leaf.requires_grad() ? " with a grad_fn (not a leaf)" : " that does not require grad");
  DUET_CHECK(static_cast<bool>(fn), "add_grad_ready_hook: the hook is empty");
  std::lock_guard<std::mutex> lock(g_hook_mutex);
  auto& hooks = leaf.impl()->grad_ready_hooks;
  if (!hooks) hooks = std::make_shared<detail::GradReadyHooks>();
  int64_t id = g_next_hook_id++;
  hooks->hooks.emplace_back(id, std::move(fn));
  g_hook_leaf.emplace(id, leaf.impl_ptr());
  g_num_hooks.fetch_add(1);
  return id;
}

void remove_grad_ready_hook(int64_t id) {
  std::lock_guard<std::mutex> lock(g_hook_mutex);
  auto it = g_hook_leaf.find(id);
  if (it == g_hook_leaf.end()) return;  // removed already: nothing to do
  if (auto leaf = it->second.lock()) {
    auto& hooks = leaf->grad_ready_hooks->hooks;
    std::erase_if(hooks, [id](const auto& h) { return h.first == id; });
    if (hooks.empty()) leaf->grad_ready_hooks.reset();
  }
  g_hook_leaf.erase(it);
  g_num_hooks.fetch_sub(1);
}

void queue_backward_callback(std::function<void()> fn) {
  DUET_CHECK(!g_backward_stack.empty(),
             "queue_backward_callback: no backward is running on this thread (expected a call "
             "from a grad-ready hook or a gradient rule, during backward)");
  g_backward_stack.back()->callbacks.push_back(std::move(fn));
}

bool in_backward() {
  return !g_backward_stack.empty();
}

bool grad_enabled() {
  return g_grad_enabled;
}
void set_grad_enabled(bool enabled) {
  g_grad_enabled = enabled;
}

namespace detail {

static SavedTensor save(const Tensor& t) {
  return {t.detach(), t.impl()->storage ? t.impl()->storage->version : 0};
}

void record_tape(const OpDef& op, const Attrs& attrs, const std::vector<Tensor>& inputs,
                 std::vector<Tensor>& outputs) {
  if (!g_grad_enabled) return;
  std::vector<bool> needs(inputs.size(), false);
  bool any = false;
  for (size_t i = 0; i < inputs.size(); ++i) {
    needs[i] = !has_bit(op.nondiff_inputs, i) && inputs[i].requires_grad();
    any = any || needs[i];
  }
  if (!any) return;

  auto node = std::make_shared<TapeNode>();
  node->op = &op;
  node->attrs = attrs;
  node->num_outputs = static_cast<int>(outputs.size());
  node->seq = g_seq.fetch_add(1);
  node->saved_inputs.resize(inputs.size());
  node->saved_outputs.resize(outputs.size());
  node->next.resize(inputs.size());
  node->input_metas.reserve(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    node->input_metas.push_back({x.shape(), x.dtype(), x.device()});
    if (has_bit(op.save_inputs, i)) node->saved_inputs[i] = save(x);
    if (!needs[i]) continue;
    if (x.impl()->grad_fn) {
      node->next[i].node = x.impl()->grad_fn;
      node->next[i].output_nr = x.impl()->output_nr;
    } else {
      node->next[i].leaf = x.impl_ptr();
    }
  }
  for (size_t k = 0; k < outputs.size(); ++k) {
    if (has_bit(op.save_outputs, k)) node->saved_outputs[k] = save(outputs[k]);
    if (!is_floating(outputs[k].dtype())) continue;
    TensorImpl* o = outputs[k].impl();
    o->requires_grad = true;
    o->grad_fn = node;
    o->output_nr = static_cast<int>(k);
  }
}

static Tensor accumulate(const Tensor& acc, const Tensor& g) {
  return acc.defined() ? add(acc, g) : g;
}

static void accumulate_leaf(TensorImpl* leaf, Tensor g) {
  DUET_ASSERT(g.shape() == leaf->shape, "gradient shape ", shape_str(g.shape()), " for leaf ",
              shape_str(leaf->shape));
  if (g.dtype() != leaf->dtype) g = cast(g, leaf->dtype);
  if (leaf->grad) {
    leaf->grad = add(Tensor(leaf->grad), g).impl_ptr();
    return;
  }
  // The leaf must own its gradient: copy when it aliases anything else.
  if (!g.is_contiguous() || g.impl()->storage.use_count() > 1 || g.storage_offset() != 0)
    g = contiguous_copy(g);
  leaf->grad = g.impl_ptr();
}

static Tensor restore(const SavedTensor& s, const TapeNode& node, const char* what, size_t i) {
  if (!s.tensor.defined()) return Tensor();
  DUET_CHECK(s.tensor.impl()->storage->version == s.version, "backward: ", what, " ", i, " of op '",
             node.op->name, "' (shape ", shape_str(s.tensor.shape()),
             ") was modified in place after it was saved for the gradient; expected it "
             "unchanged until backward");
  return s.tensor;
}

}  // namespace detail

namespace {

// Edge counts for the grad-ready hooks of one backward (only built when hooks exist).
struct HookCounts {
  // Hooked leaf -> edges (and roots) of this backward still to be processed.
  std::unordered_map<detail::TensorImpl*, int64_t> leaf;
  // Node -> incoming edges (and roots) still to be processed.
  std::unordered_map<detail::TapeNode*, int64_t> node;
};

HookCounts count_edges(const std::vector<Tensor>& roots) {
  HookCounts c;
  std::vector<detail::TapeNode*> stack;
  std::unordered_set<detail::TapeNode*> seen;
  std::lock_guard<std::mutex> lock(g_hook_mutex);
  auto visit = [&](detail::TapeNode* n) {
    ++c.node[n];
    if (seen.insert(n).second) stack.push_back(n);
  };
  for (const Tensor& r : roots) {
    if (!r.defined()) continue;
    if (r.impl()->grad_fn) {
      visit(r.impl()->grad_fn.get());
    } else if (has_hooks(r.impl())) {
      ++c.leaf[r.impl()];
    }
  }
  while (!stack.empty()) {
    detail::TapeNode* n = stack.back();
    stack.pop_back();
    for (const detail::Edge& e : n->next) {
      if (e.node) {
        visit(e.node.get());
      } else if (e.leaf && has_hooks(e.leaf.get())) {
        ++c.leaf[e.leaf.get()];
      }
    }
  }
  return c;
}

void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads,
                  bool retain_graph) {
  using detail::TapeNode;
  DUET_CHECK(grads.empty() || grads.size() == roots.size(), "backward: ", roots.size(),
             " roots but ", grads.size(), " gradients (expected one per root)");
  NoGradGuard no_grad;
  // Gradient rules run in the dtypes the forward chose: no autocast policy inside backward.
  AutocastGuard no_autocast(bfloat16, /*enabled=*/false);

  struct Later {
    bool operator()(const std::shared_ptr<TapeNode>& a, const std::shared_ptr<TapeNode>& b) const {
      return a->seq < b->seq;
    }
  };
  std::priority_queue<std::shared_ptr<TapeNode>, std::vector<std::shared_ptr<TapeNode>>, Later>
      ready;
  std::unordered_map<TapeNode*, std::vector<Tensor>> pending;

  auto send = [&](const std::shared_ptr<TapeNode>& node, int nr, const Tensor& g) {
    auto [it, fresh] = pending.try_emplace(node.get());
    if (fresh) {
      it->second.resize(node->num_outputs);
      ready.push(node);
    }
    it->second[nr] = detail::accumulate(it->second[nr], g);
  };

  // Grad-ready hooks: count the edges first (nothing of this when no hook exists).
  const bool hooked = g_num_hooks.load(std::memory_order_relaxed) > 0;
  HookCounts counts;
  if (hooked) counts = count_edges(roots);
  auto leaf_done = [&](const std::shared_ptr<detail::TensorImpl>& leaf) {
    auto it = counts.leaf.find(leaf.get());
    if (it == counts.leaf.end() || --it->second != 0) return;
    counts.leaf.erase(it);
    fire_hooks(leaf);
  };
  // One edge processed; g may be undefined. A node that gets its last incoming edge without
  // ever receiving a gradient never runs: its own edges are processed here, without one.
  std::vector<const detail::Edge*> dead;
  auto edge_done = [&](const detail::Edge& e, const Tensor& g) {
    if (e.node) {
      if (g.defined()) send(e.node, e.output_nr, g);
      if (hooked && --counts.node[e.node.get()] == 0 && !pending.count(e.node.get()))
        for (const detail::Edge& d : e.node->next) dead.push_back(&d);
    } else if (e.leaf) {
      if (g.defined()) detail::accumulate_leaf(e.leaf.get(), g);
      if (hooked) leaf_done(e.leaf);
    }
    while (!dead.empty()) {
      const detail::Edge* d = dead.back();
      dead.pop_back();
      if (d->node) {
        if (--counts.node[d->node.get()] == 0 && !pending.count(d->node.get()))
          for (const detail::Edge& dd : d->node->next) dead.push_back(&dd);
      } else if (d->leaf) {
        leaf_done(d->leaf);
      }
    }
  };

  for (size_t r = 0; r < roots.size(); ++r) {
    const Tensor& root = roots[r];
    DUET_CHECK(root.defined(), "backward: root ", r, " is undefined");
    DUET_CHECK(root.requires_grad(), "backward: root ", r, " of shape ", shape_str(root.shape()),
               " does not require grad (no input of the computation had requires_grad set, or "
               "it ran under NoGradGuard)");
    Tensor g = grads.empty() ? Tensor() : grads[r];
    if (!g.defined()) {
      DUET_CHECK(root.numel() == 1, "backward: called on a non-scalar tensor of shape ",
                 shape_str(root.shape()),
                 " without a gradient; expected a one-element tensor or an explicit gradient");
      g = Tensor::ones(root.shape(), root.dtype(), root.device());
    }
    DUET_CHECK(g.shape() == root.shape(), "backward: gradient of shape ", shape_str(g.shape()),
               " for a root of shape ", shape_str(root.shape()), " (expected equal shapes)");
    detail::Edge e;
    if (root.impl()->grad_fn) {
      e.node = root.impl()->grad_fn;
      e.output_nr = root.impl()->output_nr;
    } else {
      e.leaf = root.impl_ptr();
    }
    edge_done(e, g);
  }

  while (!ready.empty()) {
    std::shared_ptr<TapeNode> node = ready.top();
    ready.pop();
    std::vector<Tensor> gout = std::move(pending[node.get()]);
    pending.erase(node.get());
    DUET_CHECK(!node->released, "backward: trying to backward through op '", node->op->name,
               "' a second time, but its saved tensors were freed after the first backward; "
               "pass retain_graph=true to the first backward to keep them");
    GradArgs args{node->attrs, {}, {}, node->input_metas, std::move(gout), {}};
    for (size_t i = 0; i < node->saved_inputs.size(); ++i)
      args.inputs.push_back(detail::restore(node->saved_inputs[i], *node, "input", i));
    for (size_t k = 0; k < node->saved_outputs.size(); ++k)
      args.outputs.push_back(detail::restore(node->saved_outputs[k], *node, "output", k));
    args.needs_input_grad.resize(node->next.size());
    for (size_t i = 0; i < node->next.size(); ++i)
      args.needs_input_grad[i] = node->next[i].active();

    // "<op>_grad" in a profile (duet/profiler.h), the rule's ops nested inside.
    profiler::detail::Scope profile_scope;
    if (profiler::detail::recording())
      profile_scope.start(profiler::EventKind::backward, node->op->name.c_str(), nullptr,
                          node->input_metas.empty() ? cpu : node->input_metas[0].device,
                          "_grad");
    std::vector<Tensor> gin = node->op->grad(args);
    DUET_ASSERT(gin.size() == node->next.size(), node->op->name, " grad returned ", gin.size(),
                " gradients for ", node->next.size(), " inputs");
    if (!retain_graph) {
      for (auto& s : node->saved_inputs) s = {};
      for (auto& s : node->saved_outputs) s = {};
      node->released = node->op->save_inputs != 0 || node->op->save_outputs != 0;
    }
    for (size_t i = 0; i < gin.size(); ++i) {
      const detail::Edge& e = node->next[i];
      if (!e.active()) continue;
      if (gin[i].defined()) {
        DUET_ASSERT(gin[i].shape() == node->input_metas[i].shape, node->op->name,
                    " grad for input ", i, " has shape ", shape_str(gin[i].shape()), ", expected ",
                    shape_str(node->input_metas[i].shape));
      }
      edge_done(e, gin[i]);
    }
  }
}

}  // namespace

void backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads,
              bool retain_graph) {
  BackwardState state;
  g_backward_stack.push_back(&state);
  // Runs the queued callbacks (those they queue too), in order; on the error path, inside the
  // catch handler (std::current_exception() is the pending error) and ignoring their errors.
  auto run_callbacks = [&](bool failing) {
    std::exception_ptr first;
    for (size_t i = 0; i < state.callbacks.size(); ++i) {
      auto fn = std::move(state.callbacks[i]);
      try {
        fn();
      } catch (...) {
        if (!failing && !first) first = std::current_exception();
      }
    }
    g_backward_stack.pop_back();
    if (first) std::rethrow_exception(first);
  };
  try {
    run_backward(roots, grads, retain_graph);
  } catch (...) {
    NoGradGuard no_grad;
    run_callbacks(true);
    throw;
  }
  NoGradGuard no_grad;
  run_callbacks(false);
}

}  // namespace duet
