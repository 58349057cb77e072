// Graph autodiff: walks the recorded nodes backwards from the loss and calls each op's
// gradient rule on symbolic tensors. The rules are the same functions the eager tape calls;
// given symbolic tensors, the ops they call append the backward nodes.
#include <map>

#include "duet/amp.h"
#include "duet/ops/elementwise.h"
#include "graph/ir.h"

namespace duet {

using detail::GraphData;
using detail::Node;
using detail::NodeKind;
using detail::ValueRef;

std::vector<Tensor> gradients(const Tensor& loss, const std::vector<Tensor>& wrt) {
  const detail::GraphValue* lv = detail::graph_value(loss);
  DUET_CHECK(lv,
             "gradients: the loss is a concrete tensor; expected a graph (symbolic) tensor "
             "(use Tensor::backward for eager mode)");
  DUET_CHECK(loss.numel() == 1, "gradients: the loss has shape ", shape_str(loss.shape()),
             "; expected a one-element tensor");
  std::shared_ptr<GraphData> g = lv->graph;
  const bool was_building = g->building;
  g->building = true;
  detail::push_recording(g);
  struct Restore {
    std::shared_ptr<GraphData> g;
    bool was;
    ~Restore() {
      detail::pop_recording(g.get());
      g->building = was;
    }
  } restore{g, was_building};
  // Gradient rules run in the dtypes the forward chose: no autocast policy inside autodiff.
  AutocastGuard no_autocast(bfloat16, /*enabled=*/false);
  const size_t start = g->nodes.size();  // the nodes from here on are marked from_autodiff

  // Targets and which values depend on them (forward reachability).
  std::vector<ValueRef> targets(wrt.size());
  std::vector<std::vector<bool>> depends(g->nodes.size());
  for (size_t i = 0; i < g->nodes.size(); ++i) depends[i].assign(g->nodes[i].outputs.size(), false);
  for (size_t i = 0; i < wrt.size(); ++i) {
    const Tensor& t = wrt[i];
    DUET_CHECK(t.defined(), "gradients: wrt[", i, "] is undefined");
    if (const detail::GraphValue* gv = detail::graph_value(t)) {
      DUET_CHECK(gv->graph == g, "gradients: wrt[", i, "] belongs to another graph");
      targets[i] = gv->ref;
    } else {
      auto it = g->capture_of.find(t.impl());
      if (it == g->capture_of.end()) continue;  // never used: no gradient
      targets[i] = {it->second, 0};
    }
    depends[targets[i].node][targets[i].output] = true;
  }
  const int32_t loss_node = lv->ref.node;
  for (int32_t i = 0; i <= loss_node; ++i) {
    const Node& n = g->nodes[i];
    if (n.kind != NodeKind::op || !n.op->grad) continue;
    bool any = false;
    for (size_t k = 0; k < n.inputs.size(); ++k)
      if (!has_bit(n.op->nondiff_inputs, k) && depends[n.inputs[k].node][n.inputs[k].output])
        any = true;
    if (any)
      for (size_t k = 0; k < n.outputs.size(); ++k)
        depends[i][k] = depends[i][k] || is_floating(n.outputs[k].dtype);
  }
  DUET_CHECK(
      depends[loss_node][lv->ref.output] ||
          [&] {
            for (auto& t : targets)
              if (t == lv->ref) return true;
            return false;
          }(),
      "gradients: the loss does not depend on any of the ", wrt.size(), " tensors given");

  std::map<ValueRef, Tensor> grad;
  grad[lv->ref] = Tensor::ones(loss.shape(), loss.dtype(), loss.device());
  for (int32_t i = loss_node; i >= 0; --i) {
    // Copy what we need: emitting backward nodes grows g->nodes.
    const Node n = g->nodes[i];
    if (n.kind != NodeKind::op || !n.op->grad) continue;
    std::vector<Tensor> gout(n.outputs.size());
    bool have = false;
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      auto it = grad.find({i, static_cast<int32_t>(k)});
      if (it != grad.end()) {
        gout[k] = it->second;
        have = true;
      }
    }
    if (!have) continue;
    std::vector<bool> needs(n.inputs.size());
    bool any = false;
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      needs[k] = !has_bit(n.op->nondiff_inputs, k) && depends[n.inputs[k].node][n.inputs[k].output];
      any = any || needs[k];
    }
    if (!any) continue;
    GradArgs args{n.attrs, {}, {}, {}, std::move(gout), needs};
    for (const ValueRef& r : n.inputs) {
      args.inputs.push_back(g->symbolic(r));
      args.input_metas.push_back(g->meta(r));
    }
    for (int32_t k = 0; k < static_cast<int32_t>(n.outputs.size()); ++k)
      args.outputs.push_back(g->symbolic({i, k}));
    const size_t first_new = g->nodes.size();
    std::vector<Tensor> gin;
    try {
      gin = n.op->grad(args);
    } catch (const Error& e) {  // name the forward node and the model code that made it
      throw Error(detail::cat("gradients: differentiating node %", i, " (", n.label(),
                              ", created at ", n.loc.str(), "): ", e.what()));
    }
    // Backward nodes point at the model code of the forward node they differentiate.
    for (size_t j = first_new; j < g->nodes.size(); ++j) g->nodes[j].loc = n.loc;
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      if (!needs[k] || !gin[k].defined()) continue;
      Tensor& acc = grad[n.inputs[k]];
      acc = acc.defined() ? add(acc, gin[k]) : gin[k];
    }
  }

  std::vector<Tensor> result(wrt.size());
  struct MarkNew {  // every node appended from here on, also by the loop below
    GraphData& g;
    size_t first;
    ~MarkNew() {
      for (size_t j = first; j < g.nodes.size(); ++j) g.nodes[j].from_autodiff = true;
    }
  } mark{*g, start};
  for (size_t i = 0; i < wrt.size(); ++i) {
    if (!targets[i].valid()) continue;
    auto it = grad.find(targets[i]);
    if (it == grad.end()) continue;
    result[i] = it->second;
    if (!detail::graph_value(result[i])) {
      // A gradient that is a captured constant (e.g. the seed): give it a node of its own.
      result[i] = mul(result[i], 1.0);
    }
    g->gradient_values.push_back(detail::graph_value(result[i])->ref);
  }
  return result;
}

}  // namespace duet
