// duet::onnx::export_model: an eval graph (or a module traced into one) -> an ONNX file.
//
//   copy of the graph's nodes -> dce, cse, fold_batch_norm (ExportOptions::fold_batch_norm)
//   -> values computed from captures only evaluated now (folded conv weights, BN scales)
//   -> inputs, initializers (captures / evaluated values that some node reads), one or more
//      ONNX nodes per duet node (export_ops.cpp), outputs with shapes -> atomic write.
//
// The user's graph is never touched: the passes run on a private GraphData, so compile()
// after export still works. Node ids in names and doc_strings are the user's graph's ids
// (what g.dump() prints); nodes made by the passes (a folded conv) get ids past the last one.
#include "onnx/export.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <set>

#include "duet/autograd.h"
#include "graph/passes.h"
#include "io/reader.h"

namespace duet::onnx {
namespace detail {

using duet::detail::cat;
using duet::detail::NodeKind;
using duet::detail::PassContext;

// ---------------------------------------------------------------------------------------
// Emitter

Emitter::Emitter(Context& ctx, int32_t node) : ctx_(ctx), node_(node) {}

const Node& Emitter::node() const {
  return ctx_.graph->nodes[node_];
}
int64_t Emitter::opset() const {
  return ctx_.options->opset;
}
bool Emitter::dynamic_batch() const {
  return ctx_.options->dynamic_batch;
}
size_t Emitter::num_inputs() const {
  return node().inputs.size();
}
ValueRef Emitter::in_ref(size_t k) const {
  return node().inputs.at(k);
}
const TensorMeta& Emitter::in_meta(size_t k) const {
  return ctx_.graph->meta(in_ref(k));
}
const TensorMeta& Emitter::out_meta(size_t k) const {
  return node().outputs.at(k);
}
Tensor Emitter::constant_of(ValueRef v) const {
  auto it = ctx_.constants.find(v);
  return it == ctx_.constants.end() ? Tensor() : it->second;
}
Tensor Emitter::in_constant(size_t k) const {
  return constant_of(in_ref(k));
}
int Emitter::batch_axis_of_input(size_t k) const {
  auto it = ctx_.batch_axis.find(in_ref(k));
  return it == ctx_.batch_axis.end() ? -1 : it->second;
}

std::string Emitter::where() const {
  const Node& n = node();
  return cat("node %", ctx_.display_id[node_], ", created at ", n.loc.str());
}

void Emitter::fail(const std::string& why) const {
  throw Error(cat("onnx export: op '", node().op->name, "' (", where(), ") ", why));
}

std::string Emitter::initializer(const Tensor& t, const std::string& want) {
  // Unique among every name of the graph (inputs, outputs, other initializers).
  std::string name = want;
  for (int k = 1; ctx_.names_used.count(name); ++k) name = cat(want, "_", k);
  ctx_.names_used.insert(name);
  Tensor host = t.device() == cpu ? t : t.to(cpu);
  tensor_to_proto(host, name, ctx_.proto->add_initializer());
  return name;
}

std::string Emitter::value_name(ValueRef v) {
  auto it = ctx_.names.find(v);
  if (it != ctx_.names.end()) return it->second;
  const Node& n = ctx_.graph->nodes[v.node];
  std::string name;
  Tensor c = constant_of(v);
  if (n.kind == NodeKind::capture) {
    auto p = ctx_.param_names.find(n.captured.impl());
    const std::string want =
        p != ctx_.param_names.end() ? p->second : cat("c", ctx_.display_id[v.node]);
    // Captures of one storage region (the same tensor) share one initializer.
    auto d = ctx_.initializer_of.find(n.captured.impl());
    name = d != ctx_.initializer_of.end() ? d->second : initializer(n.captured, want);
    ctx_.initializer_of[n.captured.impl()] = name;
  } else if (c.defined()) {
    name = initializer(c, v.output ? cat("c", ctx_.display_id[v.node], "_", v.output)
                                   : cat("c", ctx_.display_id[v.node]));
  } else {
    const std::string want = v.output ? cat("v", ctx_.display_id[v.node], "_", v.output)
                                      : cat("v", ctx_.display_id[v.node]);
    name = want;
    for (int k = 1; ctx_.names_used.count(name); ++k) name = cat(want, "_", k);
    ctx_.names_used.insert(name);
  }
  ctx_.names[v] = name;
  return name;
}

std::string Emitter::in(size_t k) {
  return value_name(in_ref(k));
}
std::string Emitter::out(size_t k) {
  return value_name({node_, static_cast<int32_t>(k)});
}

std::string Emitter::tmp(const std::string& what) {
  const std::string want = cat("v", ctx_.display_id[node_], "_", what);
  std::string name = want;
  for (int k = 1; ctx_.names_used.count(name); ++k) name = cat(want, "_", k);
  ctx_.names_used.insert(name);
  return name;
}

::onnx::NodeProto& Emitter::add(const std::string& type, const std::vector<std::string>& inputs,
                                const std::vector<std::string>& outputs) {
  ::onnx::NodeProto& n = *ctx_.proto->add_node();
  const int k = type_count_[type]++;
  n.set_name(k ? cat(type, "_", ctx_.display_id[node_], "_", k)
               : cat(type, "_", ctx_.display_id[node_]));
  n.set_op_type(type);
  for (const std::string& s : inputs) n.add_input(s);
  for (const std::string& s : outputs) n.add_output(s);
  const Node& d = node();
  n.set_doc_string(cat("duet node %", ctx_.display_id[node_], " ",
                       d.kind == NodeKind::op ? d.op->name : d.label(), " at ", d.loc.str()));
  return n;
}

std::string Emitter::scalar(double v, DType t) {
  const auto key = std::make_pair(static_cast<int>(t), v);
  const bool cached = !std::isnan(v);  // NaN cannot be a map key
  if (auto it = ctx_.scalars.find(key); cached && it != ctx_.scalars.end()) return it->second;
  Tensor s = Tensor::full({}, v, t);
  std::string name = initializer(s, cat("s", ctx_.display_id[node_]));
  if (cached) ctx_.scalars[key] = name;
  return name;
}

std::string Emitter::int64s(const std::vector<int64_t>& v, const std::string& what) {
  const Tensor t = Tensor::from_vector(v, {static_cast<int64_t>(v.size())}, int64);
  return initializer(t, cat("s", ctx_.display_id[node_], "_", what));
}

std::string Emitter::constant(const Tensor& t, const std::string& what) {
  return initializer(t.contiguous(), cat("c", ctx_.display_id[node_], "_", what));
}

void set_attr(::onnx::NodeProto& n, const std::string& name, int64_t v) {
  ::onnx::AttributeProto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::INT);
  a->set_i(v);
}
void set_attr(::onnx::NodeProto& n, const std::string& name, double v) {
  ::onnx::AttributeProto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::FLOAT);
  a->set_f(static_cast<float>(v));
}
void set_attr(::onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v) {
  ::onnx::AttributeProto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}
void set_attr(::onnx::NodeProto& n, const std::string& name, const std::string& v) {
  ::onnx::AttributeProto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(::onnx::AttributeProto::STRING);
  a->set_s(v);
}

namespace {

// ---------------------------------------------------------------------------------------
// Preparing the copy

// Values computed from captures only: evaluated now, so the file holds the result (a folded
// conv weight) rather than the ops that compute it. Not evaluated: random and mutating ops,
// collectives, and results much larger than their inputs (an expand of a scalar to an
// activation's shape stays an Expand node).
void evaluate_constants(Emitter::Context& ctx) {
  const GraphData& g = *ctx.graph;
  duet::detail::PauseRecording pause;
  NoGradGuard no_grad;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    const auto id = static_cast<int32_t>(i);
    if (n.kind == NodeKind::capture) {
      ctx.constants[{id, 0}] = n.captured;
      continue;
    }
    if (n.kind != NodeKind::op || n.op->random || n.mutates() || n.op->has(OpTrait::collective) ||
        n.op->has(OpTrait::backward) || n.op->has(OpTrait::optimizer_update))
      continue;
    std::vector<Tensor> in;
    int64_t in_numel = 0;
    bool all = true;
    for (const ValueRef& r : n.inputs) {
      auto it = ctx.constants.find(r);
      if (it == ctx.constants.end()) {
        all = false;
        break;
      }
      in.push_back(it->second);
      in_numel += it->second.numel();
    }
    if (!all || in.empty()) continue;
    int64_t out_numel = 0;
    for (const TensorMeta& m : n.outputs) out_numel += numel(m.shape);
    if (out_numel > std::max<int64_t>(in_numel, int64_t{1} << 16)) continue;
    std::vector<Tensor> out;
    try {
      out = call_op(*n.op, in, n.attrs);
    } catch (const Error&) {
      continue;  // exported as a node: the error shows when the model runs
    }
    for (size_t k = 0; k < out.size(); ++k)
      ctx.constants[{id, static_cast<int32_t>(k)}] = out[k].contiguous();
  }
}

// The inference batch norm behind a channel_affine node, if it is one (export.h).
void find_batch_norms(Emitter::Context& ctx) {
  const GraphData& g = *ctx.graph;
  auto op_node = [&](ValueRef r, OpId id) -> const Node* {
    const Node& n = g.nodes[r.node];
    return n.is(id) && r.output == 0 ? &n : nullptr;
  };
  auto is_capture = [&](ValueRef r) { return g.nodes[r.node].kind == NodeKind::capture; };
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& a = g.nodes[i];
    if (!a.is(OpId::channel_affine) || ctx.constants.count({static_cast<int32_t>(i), 0})) continue;
    BatchNormPattern p;
    // scale = rsqrt(add_scalar(var, eps)) [* weight]
    ValueRef scale = a.inputs[1];
    ValueRef rs = scale;
    if (const Node* m = op_node(scale, OpId::mul)) {
      rs = m->inputs[0];
      p.weight = m->inputs[1];
      if (!is_capture(p.weight)) continue;
    }
    const Node* r = op_node(rs, OpId::rsqrt);
    if (!r) continue;
    const Node* e = op_node(r->inputs[0], OpId::add_scalar);
    if (!e || !is_capture(e->inputs[0])) continue;
    p.var = e->inputs[0];
    p.eps = e->attrs.f("value");
    // shift = neg(mul(mean, scale)) [+ bias]
    ValueRef shift = a.inputs[2];
    if (const Node* ad = op_node(shift, OpId::add)) {
      shift = ad->inputs[0];
      p.bias = ad->inputs[1];
      if (!is_capture(p.bias)) continue;
    }
    const Node* ng = op_node(shift, OpId::neg);
    if (!ng) continue;
    const Node* mm = op_node(ng->inputs[0], OpId::mul);
    if (!mm || !(mm->inputs[1] == scale) || !is_capture(mm->inputs[0])) continue;
    p.mean = mm->inputs[0];
    const int64_t c = g.meta(a.inputs[1]).shape.empty() ? -1 : g.meta(a.inputs[1]).shape[0];
    bool ok = true;
    for (ValueRef v : {p.weight, p.bias, p.mean, p.var})
      ok = ok && (!v.valid() || g.meta(v).shape == Shape{c});
    if (ok) ctx.batch_norms[static_cast<int32_t>(i)] = p;
  }
}

void propagate_batch_axes(Emitter::Context& ctx) {
  const GraphData& g = *ctx.graph;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    const auto id = static_cast<int32_t>(i);
    if (n.kind == NodeKind::input) {
      if (ctx.options->dynamic_batch && !n.outputs[0].shape.empty()) ctx.batch_axis[{id, 0}] = 0;
      continue;
    }
    if (n.kind != NodeKind::op || ctx.constants.count({id, 0})) continue;
    std::vector<int> in;
    bool any = false;
    for (const ValueRef& r : n.inputs) {
      auto it = ctx.batch_axis.find(r);
      in.push_back(it == ctx.batch_axis.end() ? -1 : it->second);
      any = any || in.back() >= 0;
    }
    if (!any) continue;
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      const int a = batch_axis_after(n, in, g, static_cast<int>(k));
      if (a >= 0) ctx.batch_axis[{id, static_cast<int32_t>(k)}] = a;
    }
  }
}

void set_value_info(::onnx::ValueInfoProto* vi, const std::string& name, const TensorMeta& m,
                    int batch_axis) {
  vi->set_name(name);
  ::onnx::TypeProto_Tensor* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx_dtype(m.dtype));
  ::onnx::TensorShapeProto* shape = tt->mutable_shape();
  for (size_t d = 0; d < m.shape.size(); ++d) {
    ::onnx::TensorShapeProto_Dimension* dim = shape->add_dim();
    if (static_cast<int>(d) == batch_axis)
      dim->set_dim_param("batch");
    else
      dim->set_dim_value(m.shape[d]);
  }
}

struct Exporter {
  const Graph& graph;
  const std::vector<Tensor>& outputs;
  const std::string& path;
  const ExportOptions& options;
  std::map<const TensorImpl*, std::string> param_names;

  void run() {
    // The user's graph may still be recording on this thread: the eager ops export runs
    // (constants, reshaped initializers) must not land in it.
    duet::detail::PauseRecording pause;
    const std::string where = cat("onnx export: '", path, "': ");
    DUET_CHECK(options.opset >= kMinExportOpset && options.opset <= kMaxExportOpset, where,
               "opset ", options.opset, " is not supported (expected ", kMinExportOpset, " ... ",
               kMaxExportOpset, ")");
    const std::shared_ptr<GraphData>& src = graph.data();
    DUET_CHECK(!src->training, where, "graph #", src->id,
               " was built for training (GraphOptions::training = true); export needs an eval "
               "graph (build it with the default GraphOptions)");
    DUET_CHECK(!src->compiled, where, "graph #", src->id,
               " was compiled already (compile renumbers its nodes); export the graph before "
               "compiling it");
    DUET_CHECK(!outputs.empty(), where, "no outputs given (expected at least one value)");

    // The private copy the passes rewrite.
    auto copy = std::make_shared<GraphData>();
    copy->id = src->id;
    copy->nodes = src->nodes;
    copy->capture_of = src->capture_of;
    const size_t original = copy->nodes.size();
    // The user's node ids ride through the passes in Node::name ("#17"), unused on op and
    // capture nodes; input nodes keep their feed names.
    for (size_t i = 0; i < original; ++i)
      if (copy->nodes[i].kind != NodeKind::input) copy->nodes[i].name = cat("#", i);

    std::vector<ValueRef> outs;
    for (size_t i = 0; i < outputs.size(); ++i) {
      const auto* gv = duet::detail::graph_value(outputs[i]);
      DUET_CHECK(gv && gv->graph == src, where, "output ", i,
                 outputs[i].defined() ? (outputs[i].is_symbolic() ? " is a value of another graph"
                                                                  : " is a concrete tensor")
                                      : " is undefined",
                 " (expected a value of graph #", src->id, ")");
      outs.push_back(gv->ref);
    }
    std::vector<std::string> input_names;
    for (const Node& n : src->nodes)
      if (n.kind == NodeKind::input) input_names.push_back(n.name);
    if (!options.input_names.empty()) {
      DUET_CHECK(options.input_names.size() == input_names.size(), where,
                 options.input_names.size(), " input names given for ", input_names.size(),
                 " graph inputs (expected equal counts)");
    }
    for (const std::string& n : options.input_names)
      DUET_CHECK(!n.empty(), where, "an input name is empty (expected non-empty names)");
    for (const std::string& n : options.output_names)
      DUET_CHECK(!n.empty(), where, "an output name is empty (expected non-empty names)");
    std::vector<std::string> output_names;
    for (size_t i = 0; i < outs.size(); ++i)
      output_names.push_back(i ? cat("output_", i) : std::string("output"));
    if (!options.output_names.empty()) {
      DUET_CHECK(options.output_names.size() == outs.size(), where, options.output_names.size(),
                 " output names given for ", outs.size(), " outputs (expected equal counts)");
      output_names = options.output_names;
    }

    {
      CompileOptions copts;
      PassContext pc{*copy, outs, copts};
      duet::detail::dead_code_elimination(pc);
      duet::detail::common_subexpression_elimination(pc);
      if (options.fold_batch_norm) duet::detail::fold_batch_norm(pc);
      duet::detail::dead_code_elimination(pc);
    }

    Emitter::Context ctx;
    ctx.graph = copy.get();
    ctx.options = &options;
    ctx.param_names = param_names;
    int64_t next_id = static_cast<int64_t>(original);
    for (const Node& n : copy->nodes) {
      if (n.name.size() > 1 && n.name[0] == '#')
        ctx.display_id.push_back(std::stoll(n.name.substr(1)));
      else if (n.kind == NodeKind::input)
        ctx.display_id.push_back(-1);  // fixed below
      else
        ctx.display_id.push_back(next_id++);
    }
    // Input nodes keep their feed names (unique per graph): their ids by name.
    for (size_t i = 0; i < src->nodes.size(); ++i) {
      if (src->nodes[i].kind != NodeKind::input) continue;
      for (size_t j = 0; j < copy->nodes.size(); ++j)
        if (copy->nodes[j].kind == NodeKind::input && copy->nodes[j].name == src->nodes[i].name)
          ctx.display_id[j] = static_cast<int64_t>(i);
    }

    ::onnx::ModelProto model;
    model.set_ir_version(kIrVersion);
    model.set_producer_name(options.producer_name);
    model.set_producer_version("0.1");
    if (!options.doc_string.empty()) model.set_doc_string(options.doc_string);
    ::onnx::OperatorSetIdProto* os = model.add_opset_import();
    os->set_domain("");
    os->set_version(options.opset);
    ::onnx::GraphProto* gp = model.mutable_graph();
    gp->set_name(options.graph_name);
    ctx.proto = gp;

    evaluate_constants(ctx);
    find_batch_norms(ctx);
    propagate_batch_axes(ctx);

    // Graph inputs, in the user's graph's order.
    {
      for (size_t j = 0; j < copy->nodes.size(); ++j) {
        const Node& n = copy->nodes[j];
        if (n.kind != NodeKind::input) continue;
        size_t pos = 0;
        while (pos < input_names.size() && input_names[pos] != n.name) ++pos;
        const std::string name = options.input_names.empty() ? n.name : options.input_names[pos];
        DUET_CHECK(!ctx.names_used.count(name), where, "input name '", name,
                   "' is used twice (expected distinct names)");
        ctx.names_used.insert(name);
        ctx.names[{static_cast<int32_t>(j), 0}] = name;
      }
      // Inputs in the user's order (the copy keeps it: passes never move input nodes past
      // each other).
      for (size_t j = 0; j < copy->nodes.size(); ++j) {
        const Node& n = copy->nodes[j];
        if (n.kind != NodeKind::input) continue;
        set_value_info(gp->add_input(), ctx.names[{static_cast<int32_t>(j), 0}], n.outputs[0],
                       options.dynamic_batch && !n.outputs[0].shape.empty() ? 0 : -1);
      }
    }
    // Graph outputs: an op's own output takes the output's name; an input, a constant or a
    // value requested twice gets an Identity node.
    std::vector<bool> needs_identity(outs.size(), false);
    for (size_t i = 0; i < outs.size(); ++i) {
      DUET_CHECK(!ctx.names_used.count(output_names[i]), where, "output name '", output_names[i],
                 "' is used twice or is also an input name (expected distinct names)");
      ctx.names_used.insert(output_names[i]);
      const Node& n = copy->nodes[outs[i].node];
      if (n.kind == NodeKind::op && !ctx.constants.count(outs[i]) && !ctx.names.count(outs[i]))
        ctx.names[outs[i]] = output_names[i];
      else
        needs_identity[i] = true;
    }

    auto all_constant_node = [&](size_t j) {
      bool all = true;
      for (size_t k = 0; k < copy->nodes[j].outputs.size(); ++k)
        all = all && ctx.constants.count({static_cast<int32_t>(j), static_cast<int32_t>(k)});
      return all;
    };
    for (size_t j = 0; j < copy->nodes.size(); ++j)
      if (copy->nodes[j].kind == NodeKind::op && !all_constant_node(j))
        for (const ValueRef& r : copy->nodes[j].inputs) ctx.used.insert(r);
    for (const ValueRef& r : outs) ctx.used.insert(r);

    for (size_t j = 0; j < copy->nodes.size(); ++j) {
      const Node& n = copy->nodes[j];
      if (n.kind != NodeKind::op) continue;
      bool all_constant = true;
      for (size_t k = 0; k < n.outputs.size(); ++k)
        all_constant = all_constant && ctx.constants.count({static_cast<int32_t>(j),
                                                            static_cast<int32_t>(k)});
      if (all_constant) continue;
      Emitter e(ctx, static_cast<int32_t>(j));
      export_op(e);
    }
    for (size_t i = 0; i < outs.size(); ++i) {
      if (!needs_identity[i]) continue;
      Emitter e(ctx, outs[i].node);
      e.add("Identity", {e.value_name(outs[i])}, {output_names[i]});
    }
    for (size_t i = 0; i < outs.size(); ++i) {
      auto it = ctx.batch_axis.find(outs[i]);
      set_value_info(gp->add_output(), output_names[i], copy->meta(outs[i]),
                     it == ctx.batch_axis.end() ? -1 : it->second);
    }

    const size_t bytes = model.ByteSizeLong();
    DUET_CHECK(bytes <= static_cast<size_t>(INT_MAX), where, "the model is ", bytes,
               " bytes; protobuf writes at most 2 GiB - 1 (external data is not supported)");
    std::string data;
    DUET_CHECK(model.SerializeToString(&data), where, "serializing the model failed");
    io::SafeWriter w(path, where);
    w.write(data.data(), data.size());
    w.commit();
  }
};

}  // namespace
}  // namespace detail

void export_model(const Graph& graph, const std::vector<Tensor>& outputs, const std::string& path,
                  const ExportOptions& options) {
  detail::Exporter{graph, outputs, path, options, {}}.run();
}

void export_model(nn::Module& module, const std::vector<Tensor>& example_inputs,
                  const std::string& path, const ExportOptions& options) {
  DUET_CHECK(!example_inputs.empty(), "onnx export: '", path,
             "': no example inputs given (expected one tensor per model input)");
  // Eval for the trace; every module's own flag restored after.
  std::vector<std::pair<nn::Module*, bool>> modes;
  for (const auto& [name, m] : module.named_modules()) modes.emplace_back(m, m->training_flag());
  struct Restore {
    std::vector<std::pair<nn::Module*, bool>>& modes;
    ~Restore() {
      for (auto& [m, flag] : modes) m->train(flag);
    }
  } restore{modes};
  module.eval();

  std::map<const duet::detail::TensorImpl*, std::string> names;
  for (const auto& [name, t] : module.state_dict())
    if (t.defined()) names.emplace(t.impl(), name);

  Graph g;
  std::vector<Tensor> in;
  for (size_t i = 0; i < example_inputs.size(); ++i) {
    const Tensor& x = example_inputs[i];
    DUET_CHECK(x.defined(), "onnx export: '", path, "': example input ", i, " is undefined");
    in.push_back(g.input(i ? detail::cat("input_", i) : std::string("input"), x.shape(), x.dtype(),
                         x.device()));
  }
  std::vector<Tensor> out;
  {
    NoGradGuard no_grad;
    out = module(in);
  }
  g.end_build();
  detail::Exporter{g, out, path, options, std::move(names)}.run();
}

}  // namespace duet::onnx
