// duet::onnx::load / load_from_memory: parse an ONNX file (protobuf-lite) and validate it
// before anything runs: the opset, the operators, the graph's structure (SSA, topological
// order), the initializers and the declared inputs and outputs. The file is hostile: every
// claim is checked before it sizes an allocation (docs/security.md).
#include <climits>
#include <unordered_map>

#include "duet/error.h"
#include "duet/onnx.h"
#include "graph/ir.h"
#include "io/reader.h"
#include "onnx/model_impl.h"

namespace duet::onnx {
namespace detail {
namespace {

// A declared dimension above this is absurd (no tensor of it could be allocated).
constexpr int64_t kMaxDeclaredDim = int64_t{1} << 40;

// Operators whose outputs differ per call: never folded at load.
bool is_random(const std::string& op) {
  return op == "RandomNormal" || op == "RandomUniform" || op == "RandomNormalLike" ||
         op == "RandomUniformLike" || op == "Multinomial" || op == "Bernoulli";
}

class Loader {
 public:
  explicit Loader(Model::Impl& impl) : m_(impl), pre_(cat("onnx: ", impl.path, ": ")) {}

  void run() {
    read_header();
    const ::onnx::GraphProto& g = m_.proto.graph();
    if (static_cast<int64_t>(g.node_size()) > m_.options.max_nodes)
      fail(cat("the graph has ", g.node_size(), " nodes, more than the limit of ",
               m_.options.max_nodes, " (LoadOptions::max_nodes)"));
    if (g.sparse_initializer_size() > 0) fail("sparse initializers are not supported");
    read_initializers(g);
    read_inputs(g);
    read_nodes(g);
    read_outputs(g);
    mark_needed();
    if (m_.options.fold_constants) fold();
    for (const NodeInfo& n : m_.nodes)
      if (!n.folded) m_.run_order.push_back(n.index);
    drop_unread_folded();
    plan_releases();
    m_.proto.mutable_graph()->clear_initializer();  // decoded: don't hold the bytes twice
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw Error(pre_ + what); }

  void read_header() {
    const ::onnx::ModelProto& p = m_.proto;
    m_.ir_version = p.ir_version();
    m_.producer_name = p.producer_name();
    bool found = false;
    for (const ::onnx::OperatorSetIdProto& o : p.opset_import()) {
      if (!o.domain().empty() && o.domain() != "ai.onnx") continue;
      if (found && o.version() != m_.opset)
        fail(cat("the model imports ai.onnx twice (opsets ", m_.opset, " and ", o.version(), ")"));
      found = true;
      m_.opset = o.version();
    }
    if (!found)
      fail(
          "the model imports no ai.onnx opset (opset_import names none; opsets before 7 are "
          "not supported)");
    if (m_.opset < kMinImportOpset || m_.opset > kMaxImportOpset)
      fail(cat("ai.onnx opset ", m_.opset, " is not supported (duet reads opsets ", kMinImportOpset,
               " ... ", kMaxImportOpset, ")"));
    if (!p.has_graph()) fail("the model has no graph");
  }

  int new_slot(const std::string& name) {
    const int s = m_.num_slots++;
    slots_.emplace(name, s);
    m_.slot_names.push_back(name);
    m_.base.emplace_back();
    m_.base_constant.push_back(0);
    return s;
  }

  void read_initializers(const ::onnx::GraphProto& g) {
    TensorLimits limits;
    limits.max_bytes = m_.options.max_tensor_bytes;
    int64_t total = 0;
    for (int i = 0; i < g.initializer_size(); ++i) {
      const ::onnx::TensorProto& t = g.initializer(i);
      if (t.name().empty()) fail(cat("initializer #", i, " has no name"));
      if (slots_.count(t.name())) fail(cat("initializer ", quoted(t.name()), " is defined twice"));
      Tensor v = tensor_from_proto(t, m_.path, limits);
      const int64_t bytes = v.numel() * static_cast<int64_t>(dtype_size(v.dtype()));
      total += bytes;  // each <= max_tensor_bytes, their count < 2^31: no overflow
      if (total > m_.options.max_total_tensor_bytes)
        fail(cat("the initializers hold more than ", m_.options.max_total_tensor_bytes,
                 " bytes (LoadOptions::max_total_tensor_bytes), at initializer ",
                 quoted(t.name())));
      const int s = new_slot(t.name());
      m_.base[static_cast<size_t>(s)] = v;
      m_.base_constant[static_cast<size_t>(s)] = 1;
      m_.initializers.emplace(t.name(), v);
    }
  }

  // The declared type and shape of a graph input (strict) or output (lenient: a missing type
  // or shape is accepted).
  ValueInfo value_info(const ::onnx::ValueInfoProto& v, const char* kind, bool strict) const {
    ValueInfo info;
    info.name = v.name();
    const std::string where = cat(pre_, kind, " ", quoted(v.name()));
    if (!v.has_type() || !v.type().has_tensor_type()) {
      if (strict)
        throw Error(cat(where,
                        " declares no tensor type (sequence, map and optional values "
                        "are not supported)"));
      return info;
    }
    const ::onnx::TypeProto_Tensor& tt = v.type().tensor_type();
    if (strict || tt.elem_type() != ::onnx::TensorProto::UNDEFINED)
      info.dtype = dtype_from_onnx(tt.elem_type(), where);
    if (!tt.has_shape()) return info;
    info.has_shape = true;
    const ::onnx::TensorShapeProto& shape = tt.shape();
    if (shape.dim_size() > 64)
      throw Error(cat(where, " has ", shape.dim_size(), " dims, more than the limit of 64"));
    int64_t elems = 1;
    for (int i = 0; i < shape.dim_size(); ++i) {
      const auto& d = shape.dim(i);
      if (d.has_dim_value()) {
        const int64_t n = d.dim_value();
        if (n < 0 || n > kMaxDeclaredDim)
          throw Error(cat(where, ": dim ", i, " is ", n, " (expected 0 ... 2^40)"));
        if (n > 0 && elems > (int64_t{1} << 62) / n)
          throw Error(cat(where, ": the declared shape has more elements than fit in int64"));
        if (n > 0) elems *= n;
        info.dims.push_back(n);
        info.dim_names.emplace_back();
      } else {
        info.dims.push_back(-1);
        info.dim_names.push_back(d.has_dim_param() ? io::cut(d.dim_param(), 120) : std::string());
      }
    }
    return info;
  }

  void read_inputs(const ::onnx::GraphProto& g) {
    std::unordered_map<std::string, int> seen;
    for (int i = 0; i < g.input_size(); ++i) {
      const ::onnx::ValueInfoProto& v = g.input(i);
      if (v.name().empty()) fail(cat("graph input #", i, " has no name"));
      if (!seen.emplace(v.name(), i).second)
        fail(cat("graph input ", quoted(v.name()), " is declared twice"));
      if (m_.initializers.count(v.name())) continue;  // an initializer (IR < 4 lists them)
      m_.inputs.push_back(value_info(v, "input", true));
      m_.input_slots.push_back(new_slot(v.name()));
    }
  }

  void read_nodes(const ::onnx::GraphProto& g) {
    // Who defines each name, to tell a cycle / wrong order from a value no one defines.
    std::unordered_map<std::string, int> producer;
    for (int i = 0; i < g.node_size(); ++i) {
      for (const std::string& out : g.node(i).output()) {
        if (out.empty()) continue;
        if (slots_.count(out))
          fail(cat(node_where(g.node(i), i), ": output ", quoted(out),
                   " is also a graph input or an initializer (a value is defined once)"));
        auto [it, fresh] = producer.emplace(out, i);
        if (!fresh)
          fail(cat(node_where(g.node(i), i), ": output ", quoted(out), " is already defined by ",
                   node_where(g.node(it->second), it->second), " (a value is defined once)"));
      }
    }
    m_.nodes.reserve(static_cast<size_t>(g.node_size()));
    for (int i = 0; i < g.node_size(); ++i) {
      const ::onnx::NodeProto& node = g.node(i);
      const std::string where = cat(pre_, node_where(node, i), ": ");
      if (!node.domain().empty() && node.domain() != "ai.onnx")
        throw Error(cat(where, "domain ", quoted(node.domain()),
                        " is not supported (duet reads the ai.onnx domain only)"));
      NodeInfo info;
      info.index = i;
      info.proto = &node;
      info.op = find_operator(node.op_type());
      if (info.op == nullptr)
        throw Error(cat(where, "operator ", quoted(node.op_type()),
                        " is not supported; supported operators: ", all_operators().size(),
                        ", see duet::onnx::supported_operators() / docs/onnx.md"));
      if (info.op->since > m_.opset)
        throw Error(cat(where, node.op_type(), " is not supported at opset ", m_.opset,
                        " (duet reads it from opset ", info.op->since, ")"));
      for (const ::onnx::AttributeProto& a : node.attribute())
        if (a.type() == ::onnx::AttributeProto::GRAPH ||
            a.type() == ::onnx::AttributeProto::GRAPHS || a.has_g() || a.graphs_size() > 0)
          throw Error(cat(where, "attribute ", quoted(a.name()),
                          " holds a subgraph: subgraphs (If, Loop, Scan) are not supported"));
      for (const std::string& in : node.input()) {
        if (in.empty()) {
          info.inputs.push_back(-1);
          continue;
        }
        auto it = slots_.find(in);
        if (it != slots_.end()) {
          info.inputs.push_back(it->second);
          continue;
        }
        auto p = producer.find(in);
        if (p != producer.end())
          throw Error(cat(where, "input ", quoted(in), " is computed by ",
                          node_where(g.node(p->second), p->second),
                          p->second == i ? " itself" : " later in the graph",
                          " (a cycle, or nodes not in topological order)"));
        throw Error(cat(where, "input ", quoted(in),
                        " is not a graph input, an initializer or any node's output (a missing "
                        "initializer?)"));
      }
      for (const std::string& out : node.output())
        info.outputs.push_back(out.empty() ? -1 : new_slot(out));
      m_.nodes.push_back(std::move(info));
    }
  }

  void read_outputs(const ::onnx::GraphProto& g) {
    if (g.output_size() == 0) fail("the graph has no outputs");
    for (int i = 0; i < g.output_size(); ++i) {
      const ::onnx::ValueInfoProto& v = g.output(i);
      auto it = slots_.find(v.name());
      if (v.name().empty() || it == slots_.end())
        fail(cat("graph output ", quoted(v.name()),
                 " is not computed by any node, nor a graph input or an initializer"));
      m_.outputs.push_back(value_info(v, "output", false));
      m_.output_slots.push_back(it->second);
    }
  }

  void mark_needed() {
    m_.needed.assign(static_cast<size_t>(m_.num_slots), 0);
    for (const NodeInfo& n : m_.nodes)
      for (int s : n.inputs)
        if (s >= 0) m_.needed[static_cast<size_t>(s)] = 1;
    for (int s : m_.output_slots) m_.needed[static_cast<size_t>(s)] = 1;
  }

  // Evaluates, once, every node that reads constants only (initializers, Constant nodes and
  // what is computed from them): its outputs join the base values.
  void fold() {
    duet::detail::PauseRecording pause;  // a load while a Graph records folds eagerly too
    for (NodeInfo& n : m_.nodes) {
      if (is_random(n.proto->op_type())) continue;
      bool all_constant = true;
      for (int s : n.inputs)
        if (s >= 0 && m_.base_constant[static_cast<size_t>(s)] == 0) all_constant = false;
      if (!all_constant) continue;
      run_node(m_, n, m_.base, m_.base_constant);
      n.folded = true;
    }
  }

  // Folded intermediates that only other folded nodes read are not kept.
  void drop_unread_folded() {
    std::vector<uint8_t> keep(static_cast<size_t>(m_.num_slots), 0);
    for (int idx : m_.run_order)
      for (int s : m_.nodes[static_cast<size_t>(idx)].inputs)
        if (s >= 0) keep[static_cast<size_t>(s)] = 1;
    for (int s : m_.output_slots) keep[static_cast<size_t>(s)] = 1;
    for (const NodeInfo& n : m_.nodes) {
      if (!n.folded) continue;
      for (int s : n.outputs)
        if (s >= 0 && !keep[static_cast<size_t>(s)]) m_.base[static_cast<size_t>(s)] = Tensor();
    }
  }

  // NodeInfo::release: each slot goes to the last node of run_order that reads or writes it.
  void plan_releases() {
    std::vector<int> last(static_cast<size_t>(m_.num_slots), -1);
    for (int idx : m_.run_order) {
      const NodeInfo& n = m_.nodes[static_cast<size_t>(idx)];
      for (const std::vector<int>* slots : {&n.inputs, &n.outputs})
        for (int s : *slots)
          if (s >= 0) last[static_cast<size_t>(s)] = idx;
    }
    for (int s : m_.output_slots) last[static_cast<size_t>(s)] = -1;
    for (int s = 0; s < m_.num_slots; ++s)
      if (last[static_cast<size_t>(s)] >= 0)
        m_.nodes[static_cast<size_t>(last[static_cast<size_t>(s)])].release.push_back(s);
  }

  Model::Impl& m_;
  std::string pre_;
  std::unordered_map<std::string, int> slots_;
};

}  // namespace
}  // namespace detail

std::shared_ptr<Model> load_from_memory(const void* data, size_t size, const std::string& name,
                                        const LoadOptions& options) {
  DUET_CHECK(size <= static_cast<uint64_t>(options.max_file_bytes), "onnx: ", name,
             ": the model is ", size, " bytes, more than the limit of ", options.max_file_bytes,
             " (LoadOptions::max_file_bytes)");
  DUET_CHECK(size <= static_cast<size_t>(INT_MAX), "onnx: ", name, ": the model is ", size,
             " bytes; protobuf reads at most 2 GiB - 1 (external data is not supported)");
  DUET_CHECK(data != nullptr || size == 0, "onnx: ", name, ": null data");
  auto impl = std::make_shared<Model::Impl>();
  impl->path = name;
  impl->options = options;
  if (!impl->proto.ParseFromArray(data, static_cast<int>(size)))
    throw Error(
        detail::cat("onnx: ", name,
                    ": not a valid ONNX model (protobuf parse failed; truncated or not ONNX?)"));
  detail::Loader(*impl).run();
  return std::make_shared<Model>(impl);
}

std::shared_ptr<Model> load(const std::string& path, const LoadOptions& options) {
  std::vector<unsigned char> bytes =
      detail::read_onnx_file(path, options.max_file_bytes, "an ONNX model");
  return load_from_memory(bytes.data(), bytes.size(), path, options);
}

}  // namespace duet::onnx
