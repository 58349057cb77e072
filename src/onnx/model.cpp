// The imported model's runner (duet::onnx::Model) and the converters' view of a node
// (NodeContext, src/onnx/import_ops.h). Values live in integer slots resolved at load
// (src/onnx/model_impl.h); a node whose inputs are all constant runs with graph recording
// paused, so shape arithmetic is evaluated on the host even while a Graph records.
#include <cmath>
#include <cstring>

#include "duet/error.h"
#include "duet/onnx.h"
#include "graph/ir.h"
#include "io/reader.h"
#include "onnx/model_impl.h"

namespace duet::onnx {
namespace detail {

std::string quoted(const std::string& name) {
  return "'" + io::cut(name, 120) + "'";
}

std::string node_where(const ::onnx::NodeProto& node, int index) {
  const std::string op = io::cut(node.op_type(), 80);
  if (node.name().empty()) return cat("node #", index, " (", op, ")");
  return cat("node ", quoted(node.name()), " (", op, ")");
}

namespace {

const char* attr_type_name(int t) {
  switch (t) {
    case ::onnx::AttributeProto::FLOAT:
      return "FLOAT";
    case ::onnx::AttributeProto::INT:
      return "INT";
    case ::onnx::AttributeProto::STRING:
      return "STRING";
    case ::onnx::AttributeProto::TENSOR:
      return "TENSOR";
    case ::onnx::AttributeProto::GRAPH:
      return "GRAPH";
    case ::onnx::AttributeProto::SPARSE_TENSOR:
      return "SPARSE_TENSOR";
    case ::onnx::AttributeProto::TYPE_PROTO:
      return "TYPE_PROTO";
    case ::onnx::AttributeProto::FLOATS:
      return "FLOATS";
    case ::onnx::AttributeProto::INTS:
      return "INTS";
    case ::onnx::AttributeProto::STRINGS:
      return "STRINGS";
    case ::onnx::AttributeProto::TENSORS:
      return "TENSORS";
    case ::onnx::AttributeProto::GRAPHS:
      return "GRAPHS";
    case ::onnx::AttributeProto::SPARSE_TENSORS:
      return "SPARSE_TENSORS";
    case ::onnx::AttributeProto::TYPE_PROTOS:
      return "TYPE_PROTOS";
    default:
      return "UNDEFINED";
  }
}

// The error prefix of every message about a node.
std::string node_prefix(const Model::Impl& impl, const NodeInfo& info) {
  return cat("onnx: ", impl.path, ": ", node_where(*info.proto, info.index), ": ");
}

}  // namespace

// ---- NodeContext ------------------------------------------------------------------------

NodeContext::NodeContext(const ::onnx::NodeProto& node, int64_t opset, const std::string& file,
                         NodeRun& run)
    : node_(node), opset_(opset), file_(file), run_(run) {}

std::string NodeContext::where() const {
  return node_where(node_, run_.info.index);
}

void NodeContext::fail(const std::string& what) const {
  throw Error(cat("onnx: ", file_, ": ", where(), ": ", what));
}

namespace {
const ::onnx::AttributeProto* find_attr(const ::onnx::NodeProto& node, const std::string& name) {
  for (const ::onnx::AttributeProto& a : node.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}
}  // namespace

bool NodeContext::has_attr(const std::string& name) const {
  return find_attr(node_, name) != nullptr;
}

namespace {
// The attribute `name` of type `expected`, null when absent; a different type is an error.
const ::onnx::AttributeProto* typed_attr(const NodeContext& n, const std::string& name,
                                         ::onnx::AttributeProto::AttributeType expected) {
  const ::onnx::AttributeProto* a = find_attr(n.node(), name);
  if (a == nullptr) return nullptr;
  if (a->type() != expected)
    n.fail(cat("attribute ", quoted(name), " has type ", attr_type_name(a->type()), ", expected ",
               attr_type_name(expected)));
  return a;
}
}  // namespace

int64_t NodeContext::attr_int(const std::string& name, int64_t fallback) const {
  const auto* a = typed_attr(*this, name, ::onnx::AttributeProto::INT);
  return a ? a->i() : fallback;
}

double NodeContext::attr_float(const std::string& name, double fallback) const {
  const auto* a = typed_attr(*this, name, ::onnx::AttributeProto::FLOAT);
  return a ? static_cast<double>(a->f()) : fallback;
}

std::string NodeContext::attr_string(const std::string& name, const std::string& fallback) const {
  const auto* a = typed_attr(*this, name, ::onnx::AttributeProto::STRING);
  return a ? a->s() : fallback;
}

std::vector<int64_t> NodeContext::attr_ints(const std::string& name,
                                            const std::vector<int64_t>& fallback) const {
  const auto* a = typed_attr(*this, name, ::onnx::AttributeProto::INTS);
  if (a == nullptr) return fallback;
  return std::vector<int64_t>(a->ints().begin(), a->ints().end());
}

std::vector<double> NodeContext::attr_floats(const std::string& name,
                                             const std::vector<double>& fallback) const {
  const auto* a = typed_attr(*this, name, ::onnx::AttributeProto::FLOATS);
  if (a == nullptr) return fallback;
  return std::vector<double>(a->floats().begin(), a->floats().end());
}

Tensor NodeContext::attr_tensor(const std::string& name) const {
  const auto* a = typed_attr(*this, name, ::onnx::AttributeProto::TENSOR);
  if (a == nullptr) fail(cat("attribute ", quoted(name), " (a TENSOR) is missing"));
  TensorLimits limits;
  limits.max_bytes = run_.impl.options.max_tensor_bytes;
  return decode_tensor(a->t(), cat("onnx: ", file_, ": ", where(), ": attribute ", quoted(name)),
                       limits);
}

void NodeContext::expect_attrs(std::initializer_list<const char*> known) const {
  for (const ::onnx::AttributeProto& a : node_.attribute()) {
    bool ok = false;
    for (const char* k : known) ok = ok || a.name() == k;
    if (ok) continue;
    std::string list;
    for (const char* k : known) list += (list.empty() ? "" : ", ") + std::string(k);
    fail(cat("attribute ", quoted(a.name()),
             " is not supported (supported: ", list.empty() ? "none" : list, ")"));
  }
}

size_t NodeContext::num_inputs() const {
  return static_cast<size_t>(node_.input_size());
}

bool NodeContext::has_input(size_t i) const {
  return i < run_.info.inputs.size() && run_.info.inputs[i] >= 0;
}

const Tensor& NodeContext::input(size_t i) const {
  if (!has_input(i))
    fail(cat("input ", i, " is missing (the node has ", num_inputs(), " inputs",
             i < num_inputs() ? ", this one omitted" : "", ")"));
  return run_.values[static_cast<size_t>(run_.info.inputs[i])];
}

bool NodeContext::is_constant(size_t i) const {
  return has_input(i) && run_.constant[static_cast<size_t>(run_.info.inputs[i])] != 0;
}

namespace {
std::vector<double> read_constant(const NodeContext& n, size_t i, const char* what) {
  const Tensor& t = n.input(i);
  if (!n.is_constant(i) || t.is_symbolic())
    n.fail(cat("input ", i, " (", quoted(n.node().input(static_cast<int>(i))), ") must be ", what,
               " known without the model's inputs (computed from initializers, Constant nodes "
               "and Shape outputs only); computing it from the inputs is not supported"));
  duet::detail::PauseRecording pause;  // no graph notes a host read of a constant
  if (t.dtype() == int64) {
    std::vector<int64_t> v = t.to_vector<int64_t>();
    return std::vector<double>(v.begin(), v.end());
  }
  return t.to_vector<double>();
}
}  // namespace

std::vector<int64_t> NodeContext::constant_ints(size_t i) const {
  const Tensor& t = input(i);
  if (t.dtype() == int64 && is_constant(i) && !t.is_symbolic()) {
    duet::detail::PauseRecording pause;
    return t.to_vector<int64_t>();
  }
  std::vector<double> v = read_constant(*this, i, "an integer constant");
  std::vector<int64_t> out(v.size());
  for (size_t k = 0; k < v.size(); ++k) {
    // Whole numbers within int64 (9.2e18 is the first double past the top).
    if (!(std::trunc(v[k]) == v[k] && v[k] >= -9.2e18 && v[k] <= 9.2e18))
      fail(cat("input ", i, " must hold integers, but element ", k, " is ", v[k]));
    out[k] = static_cast<int64_t>(v[k]);
  }
  return out;
}

std::vector<double> NodeContext::constant_doubles(size_t i) const {
  return read_constant(*this, i, "a constant");
}

size_t NodeContext::num_outputs() const {
  return static_cast<size_t>(node_.output_size());
}

// ---- the runner ---------------------------------------------------------------------------

void run_node(const Model::Impl& impl, const NodeInfo& info, std::vector<Tensor>& values,
              std::vector<uint8_t>& constant) {
  bool all_constant = true;
  for (int s : info.inputs)
    if (s >= 0 && constant[static_cast<size_t>(s)] == 0) all_constant = false;
  NodeRun run{info, impl, values, constant};
  NodeContext ctx(*info.proto, impl.opset, impl.path, run);
  std::vector<Tensor> outs;
  try {
    if (all_constant) {
      duet::detail::PauseRecording pause;
      outs = info.op->convert(ctx);
    } else {
      outs = info.op->convert(ctx);
    }
  } catch (const Error& e) {
    const std::string prefix = node_prefix(impl, info);
    const std::string msg = e.what();
    if (msg.compare(0, prefix.size(), prefix) == 0) throw;
    throw Error(prefix + msg);
  }
  if (outs.size() != info.outputs.size())
    throw Error(cat(node_prefix(impl, info), "the converter returned ", outs.size(),
                    " outputs, the node has ", info.outputs.size(),
                    " (an internal error of duet's importer)"));
  const bool out_constant = all_constant || ctx.outputs_constant();
  for (size_t k = 0; k < outs.size(); ++k) {
    const int s = info.outputs[k];
    if (s < 0) continue;
    const auto slot = static_cast<size_t>(s);
    if (!outs[k].defined() && impl.needed[slot])
      throw Error(cat(node_prefix(impl, info), "output ", k, " (", quoted(impl.slot_names[slot]),
                      ") is read later but this converter does not compute it (not supported)"));
    if (out_constant && outs[k].defined() && outs[k].is_symbolic())
      throw Error(cat(node_prefix(impl, info), "output ", k,
                      " was marked constant but is a graph value (an internal error)"));
    // A constant becomes a capture when a graph records an op on it, and a graph captures
    // contiguous tensors only: fold views (Transpose or Slice of a weight) into copies.
    if (out_constant && outs[k].defined() && !outs[k].is_contiguous()) {
      duet::detail::PauseRecording pause;
      outs[k] = outs[k].contiguous();
    }
    values[slot] = std::move(outs[k]);
    constant[slot] = out_constant ? 1 : 0;
  }
}

}  // namespace detail

// ---- Model --------------------------------------------------------------------------------

Model::Model(std::shared_ptr<Impl> impl) : nn::Module("onnx::Model"), impl_(std::move(impl)) {}
Model::~Model() = default;

namespace {

std::string dims_str(const ValueInfo& v) {
  std::string s = "(";
  for (size_t i = 0; i < v.dims.size(); ++i) {
    if (i) s += ", ";
    s += v.dims[i] >= 0 ? std::to_string(v.dims[i])
                        : (v.dim_names[i].empty() ? std::string("?") : v.dim_names[i]);
  }
  return s + ")";
}

void check_input(const Model::Impl& impl, const ValueInfo& v, const Tensor& t) {
  // The message is built only on failure: this runs on every forward call.
  auto where = [&] { return detail::cat("onnx: ", impl.path, ": input ", detail::quoted(v.name)); };
  DUET_CHECK(t.defined(), where(), " is an undefined tensor");
  DUET_CHECK(t.dtype() == v.dtype, where(), " has dtype ", dtype_name(t.dtype()),
             ", the model expects ", dtype_name(v.dtype));
  if (!v.has_shape) return;
  bool ok = t.dim() == static_cast<int64_t>(v.dims.size());
  for (size_t i = 0; ok && i < v.dims.size(); ++i) ok = v.dims[i] < 0 || v.dims[i] == t.shape()[i];
  DUET_CHECK(ok, where(), " has shape ", shape_str(t.shape()), ", the model expects ", dims_str(v));
}

}  // namespace

std::vector<Tensor> Model::forward_many(const std::vector<Tensor>& inputs) {
  const Impl& impl = *impl_;
  DUET_CHECK(inputs.size() == impl.inputs.size(), "onnx: ", impl.path, ": the model has ",
             impl.inputs.size(), " inputs, got ", inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) check_input(impl, impl.inputs[i], inputs[i]);
  std::vector<Tensor> values = impl.base;
  std::vector<uint8_t> constant = impl.base_constant;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto slot = static_cast<size_t>(impl.input_slots[i]);
    values[slot] = inputs[i];
    constant[slot] = 0;
  }
  for (int n : impl.run_order) {
    const detail::NodeInfo& info = impl.nodes[static_cast<size_t>(n)];
    detail::run_node(impl, info, values, constant);
    for (int s : info.release) values[static_cast<size_t>(s)] = Tensor();
  }
  std::vector<Tensor> outs;
  outs.reserve(impl.output_slots.size());
  for (size_t i = 0; i < impl.output_slots.size(); ++i) {
    const Tensor& t = values[static_cast<size_t>(impl.output_slots[i])];
    DUET_CHECK(t.defined(), "onnx: ", impl.path, ": output ", detail::quoted(impl.outputs[i].name),
               " was not computed");
    // While a graph records, an output folded to a constant (Shape, Size, an initializer)
    // must still be a value of the graph: a copy node of the captured constant.
    if (duet::is_tracing() && !t.is_symbolic())
      outs.push_back(t.clone());
    else
      outs.push_back(t);
  }
  return outs;
}

const std::vector<ValueInfo>& Model::inputs() const {
  return impl_->inputs;
}

const std::vector<ValueInfo>& Model::outputs() const {
  return impl_->outputs;
}

std::vector<Tensor> Model::run(const std::map<std::string, Tensor>& feeds) {
  std::vector<Tensor> in;
  for (const ValueInfo& v : impl_->inputs) {
    auto it = feeds.find(v.name);
    DUET_CHECK(it != feeds.end(), "onnx: ", impl_->path, ": Model::run: no feed for input ",
               detail::quoted(v.name));
    in.push_back(it->second);
  }
  for (const auto& [name, t] : feeds) {
    bool known = false;
    for (const ValueInfo& v : impl_->inputs) known = known || v.name == name;
    DUET_CHECK(known, "onnx: ", impl_->path, ": Model::run: feed ", detail::quoted(name),
               " is not an input of the model");
  }
  return forward_many(in);
}

const std::map<std::string, Tensor>& Model::initializers() const {
  return impl_->initializers;
}

int64_t Model::opset() const {
  return impl_->opset;
}

int64_t Model::ir_version() const {
  return impl_->ir_version;
}

const std::string& Model::producer_name() const {
  return impl_->producer_name;
}

const std::string& Model::path() const {
  return impl_->path;
}

std::map<std::string, int64_t> Model::operator_counts() const {
  std::map<std::string, int64_t> counts;
  for (const ::onnx::NodeProto& n : impl_->proto.graph().node()) ++counts[n.op_type()];
  return counts;
}

Executable Model::compile(const std::vector<Shape>& input_shapes, const CompileOptions& options) {
  const Impl& impl = *impl_;
  DUET_CHECK(input_shapes.size() == impl.inputs.size(), "onnx: ", impl.path,
             ": Model::compile: the model has ", impl.inputs.size(), " inputs, got ",
             input_shapes.size(), " shapes");
  Graph g({.training = options.training});
  std::vector<Tensor> in;
  for (size_t i = 0; i < input_shapes.size(); ++i)
    in.push_back(g.input(impl.inputs[i].name, input_shapes[i], impl.inputs[i].dtype));
  std::vector<Tensor> out = (*this)(in);
  return duet::compile(g, out, options);
}

}  // namespace duet::onnx
