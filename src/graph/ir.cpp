// Graph IR, recording (the call_op hook) and the Graph front end.
#include "graph/ir.h"

#include "duet/autograd.h"

namespace duet::detail {
namespace {

thread_local std::vector<std::shared_ptr<GraphData>> t_recording;

std::string where(const GraphData& g, ValueRef v) {
  const Node& n = g.nodes[v.node];
  return cat("node %", v.node, " (", n.label(), ", created at ", n.loc.str(), ")");
}

std::vector<Tensor> record(const OpDef& op, std::vector<Tensor>& inputs, const Attrs& attrs,
                           std::vector<TensorMeta>&& metas) {
  std::shared_ptr<GraphData> g;
  size_t first = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const GraphValue* gv = graph_value(inputs[i]);
    if (!gv) continue;
    if (!g) {
      g = gv->graph;
      first = i;
    } else {
      DUET_CHECK(gv->graph == g, op.name, ": input ", i, " is ", where(*gv->graph, gv->ref),
                 " of graph #", gv->graph->id, " but input ", first, " belongs to another graph (#",
                 g->id, "); expected tensors of one graph (at ", current_location().str(), ")");
    }
  }
  std::shared_ptr<GraphData> active = active_graph();
  if (!g) {
    g = active;
  } else if (active && active != g) {
    const GraphValue* gv = graph_value(inputs[first]);
    throw Error(cat(op.name, ": input ", first, " is ", where(*g, gv->ref), " of another graph (#",
                    g->id, ") than graph #", active->id, " which is being built (at ",
                    current_location().str(), "); expected tensors of the graph being built"));
  }
  DUET_ASSERT(g, "record without a graph");
  DUET_CHECK(g->building, op.name, ": input is a symbolic tensor of graph #", g->id,
             " which is no longer being built (it was compiled or end_build() was called); "
             "at ",
             current_location().str());
  Node n;
  n.kind = NodeKind::op;
  n.op = &op;
  n.attrs = attrs;
  n.loc = current_location();
  n.inputs.reserve(inputs.size());
  for (const Tensor& t : inputs) n.inputs.push_back(g->value_of(t, op.name.c_str()));
  n.outputs = std::move(metas);
  const int32_t id = g->add_node(std::move(n));
  std::vector<Tensor> out;
  for (int32_t k = 0; k < static_cast<int32_t>(g->nodes[id].outputs.size()); ++k)
    out.push_back(g->symbolic({id, k}));
  return out;
}

}  // namespace

std::string Node::label() const {
  switch (kind) {
    case NodeKind::input:
      return "input " + name;
    case NodeKind::capture:
      return "capture " + shape_str(outputs[0].shape);
    case NodeKind::op:
      return op->name;
  }
  return "?";
}

std::string GraphValue::describe() const {
  return cat(where(*graph, ref), " of graph #", graph->id);
}

const GraphValue* graph_value(const Tensor& t) {
  if (!t.defined() || !t.impl()->symbolic) return nullptr;
  return dynamic_cast<const GraphValue*>(t.impl()->symbolic.get());
}

ValueRef GraphData::value_of(const Tensor& t, const char* op) {
  if (const GraphValue* gv = graph_value(t)) {
    DUET_ASSERT(gv->graph.get() == this, op, ": value of another graph");
    return gv->ref;
  }
  auto it = capture_of.find(t.impl());
  if (it != capture_of.end()) return {it->second, 0};
  // An eager result that requires grad, captured into a training graph, is a constant there:
  // the gradient would stop at it without a word. Refuse it.
  DUET_CHECK(!(training && building && grad_enabled() && t.requires_grad() && !t.is_leaf()), op,
             ": an input is a tensor computed eagerly (outside the graph) that requires grad, ",
             "shape ", shape_str(t.shape()), ", captured into training graph #", id, " at ",
             current_location().str(),
             "; the graph would treat it as a constant and no gradient would reach the "
             "parameters it was computed from. Compute it inside the traced code (from the "
             "parameters themselves), or pass t.detach() if it is meant as a constant");
  Node n;
  n.kind = NodeKind::capture;
  n.captured = t;
  n.outputs = {{t.shape(), t.dtype(), t.device()}};
  n.loc = current_location();
  const int32_t id = add_node(std::move(n));
  capture_of[t.impl()] = id;
  return {id, 0};
}

int32_t GraphData::add_node(Node node) {
  nodes.push_back(std::move(node));
  return static_cast<int32_t>(nodes.size() - 1);
}

Tensor GraphData::symbolic(ValueRef v) {
  const TensorMeta& m = meta(v);
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = m.shape;
  impl->strides = contiguous_strides(m.shape);
  impl->dtype = m.dtype;
  impl->device = m.device;
  auto gv = std::make_shared<GraphValue>();
  // Values keep their graph alive (no cycle: the graph holds no symbolic tensors).
  gv->graph = shared_from_this();
  gv->ref = v;
  impl->symbolic = gv;
  return Tensor(std::move(impl));
}

void GraphData::compact(std::vector<ValueRef*> keep) {
  std::vector<int32_t> remap(nodes.size(), -1);
  std::vector<Node> live;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].dead) continue;
    remap[i] = static_cast<int32_t>(live.size());
    live.push_back(std::move(nodes[i]));
  }
  for (Node& n : live)
    for (ValueRef& r : n.inputs) {
      DUET_ASSERT(remap[r.node] >= 0, "live node reads dead node %", r.node);
      r.node = remap[r.node];
    }
  for (ValueRef* r : keep)
    if (r->valid()) r->node = remap[r->node];
  std::vector<ValueRef> grads;
  for (ValueRef r : gradient_values)
    if (remap[r.node] >= 0) grads.push_back({remap[r.node], r.output});
  gradient_values = grads;
  capture_of.clear();
  for (size_t i = 0; i < live.size(); ++i)
    if (live[i].kind == NodeKind::capture)
      capture_of[live[i].captured.impl()] = static_cast<int32_t>(i);
  nodes = std::move(live);
}

void push_recording(const std::shared_ptr<GraphData>& g) {
  install_graph_hook();
  t_recording.push_back(g);
  set_recording_active(true);
}

void pop_recording(const GraphData* g) {
  for (size_t i = t_recording.size(); i-- > 0;) {
    if (t_recording[i].get() == g) {
      t_recording.erase(t_recording.begin() + static_cast<std::ptrdiff_t>(i));
      break;
    }
  }
  set_recording_active(!t_recording.empty());
}

std::shared_ptr<GraphData> active_graph() {
  return t_recording.empty() ? nullptr : t_recording.back();
}

PauseRecording::PauseRecording() : saved_(std::move(t_recording)) {
  t_recording.clear();
  set_recording_active(false);
}

PauseRecording::~PauseRecording() {
  // Graphs pushed meanwhile (none expected) stay above the restored ones.
  saved_.insert(saved_.end(), t_recording.begin(), t_recording.end());
  t_recording = std::move(saved_);
  set_recording_active(!t_recording.empty());
}

namespace {
void note_host_read_in_graph(const Tensor& t, const SourceLoc& where) {
  std::shared_ptr<GraphData> g = active_graph();
  if (!g || !t.defined() || !t.impl()->storage) return;
  g->host_reads.push_back({t.impl()->storage, t.impl()->storage->version, t.shape(), where});
}
}  // namespace

std::string GraphData::stale_reason() const {
  for (const HostRead& r : host_reads)
    if (r.storage->version != r.version)
      return cat("a tensor of shape ", shape_str(r.shape), " whose value was read on the host ",
                 "while tracing at ", r.loc.str(),
                 " (baked into the graph as a constant) has been written since");
  return "";
}

void install_graph_hook() {
  set_record_hook(&record);
  set_host_read_hook(&note_host_read_in_graph);
}

}  // namespace duet::detail
