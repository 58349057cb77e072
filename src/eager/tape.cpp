// The eager tape and backward.
//
// Each op call whose differentiable inputs require grad leaves one TapeNode behind: the op,
// its attrs, the tensors its gradient rule declared it needs (detached aliases, so no
// reference cycles), and an edge per input. backward() walks the nodes reachable from the
// roots in decreasing creation order (a valid reverse topological order), calls each op's
// gradient rule (the same rule graph autodiff uses) and frees the saved tensors.
#include <atomic>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "core/copy.h"
#include "duet/autograd.h"
#include "duet/ops/elementwise.h"
#include "duet/ops/shape.h"
#include "eager/tape.h"
#include "profiler/hooks.h"

namespace duet {
namespace {
thread_local bool g_grad_enabled = true;
std::atomic<uint64_t> g_seq{0};
}  // namespace

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

void backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads,
              bool retain_graph) {
  using detail::TapeNode;
  DUET_CHECK(grads.empty() || grads.size() == roots.size(), "backward: ", roots.size(),
             " roots but ", grads.size(), " gradients (expected one per root)");
  NoGradGuard no_grad;

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
    if (root.impl()->grad_fn) {
      send(root.impl()->grad_fn, root.impl()->output_nr, g);
    } else {
      detail::accumulate_leaf(root.impl(), g);
    }
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
      if (!e.active() || !gin[i].defined()) continue;
      DUET_ASSERT(gin[i].shape() == node->input_metas[i].shape, node->op->name, " grad for input ",
                  i, " has shape ", shape_str(gin[i].shape()), ", expected ",
                  shape_str(node->input_metas[i].shape));
      if (e.node) {
        send(e.node, e.output_nr, gin[i]);
      } else {
        detail::accumulate_leaf(e.leaf.get(), gin[i]);
      }
    }
  }
}

}  // namespace duet
