// Readable graphs: a text dump (one line per node) and Graphviz DOT.
//
//   %2 = conv2d(%0, %1) [stride=[1, 1], padding=[1, 1], ...] -> (8, 32, 28, 28) float32  @
//   net.cpp:14
//   %3 = relu(%2) [inplace over %2] -> (8, 32, 28, 28) float32   (marked by pass "inplace")
//   %5 = mul(%1, %4) [hoisted] -> (32, 1, 3, 3) float32           (marked by pass "hoist")
#include <sstream>

#include "graph/ir.h"

namespace duet::detail {
namespace {

std::string metas_str(const std::vector<TensorMeta>& ms) {
  std::string s;
  for (size_t k = 0; k < ms.size(); ++k) {
    if (k) s += ", ";
    s += shape_str(ms[k].shape) + " " + dtype_name(ms[k].dtype);
    if (ms[k].layout != Layout::plain) s += std::string(" ") + layout_name(ms[k].layout);
  }
  return s;
}

std::string capture_kind(const Node& n) {
  if (!n.captured.defined()) return "released";  // CompileOptions::release_weights
  if (n.captured.requires_grad()) return "param";
  return "tensor";
}

}  // namespace

std::string GraphData::dump() const {
  std::ostringstream os;
  os << "graph #" << id << " (" << (training ? "training" : "eval") << ", " << nodes.size()
     << " nodes)\n";
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& n = nodes[i];
    os << "  %" << i << " = ";
    switch (n.kind) {
      case NodeKind::input:
        os << "input \"" << n.name << "\"";
        break;
      case NodeKind::capture:
        os << "capture " << capture_kind(n);
        break;
      case NodeKind::op: {
        os << n.op->name << "(";
        for (size_t k = 0; k < n.inputs.size(); ++k) {
          os << (k ? ", " : "") << "%" << n.inputs[k].node;
          if (nodes[n.inputs[k].node].outputs.size() > 1) os << "." << n.inputs[k].output;
        }
        os << ")";
        if (n.op->id == OpId::cast)  // the target dtype by name, not its enum value
          os << " [dtype=" << dtype_name(static_cast<DType>(n.attrs.i("dtype"))) << "]";
        else if (!n.attrs.items().empty())
          os << " [" << n.attrs.str() << "]";
        if (n.mutates()) os << " (in place)";
        if (n.inplace_of >= 0 && n.inplace_of < static_cast<int32_t>(n.inputs.size())) {
          const ValueRef over = n.inputs[n.inplace_of];
          os << " [inplace over %" << over.node;
          if (nodes[over.node].outputs.size() > 1) os << "." << over.output;
          os << "]";
        }
        if (n.hoisted) os << " [hoisted]";
        break;
      }
    }
    os << " -> " << metas_str(n.outputs);
    if (n.loc.known()) os << "  @ " << n.loc.str();
    os << "\n";
  }
  return os.str();
}

std::string GraphData::to_dot() const {
  std::ostringstream os;
  os << "digraph duet_graph_" << id << " {\n  node [shape=box, fontname=monospace];\n";
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& n = nodes[i];
    std::string label = "%" + std::to_string(i) + " " + n.label();
    if (n.kind == NodeKind::op && !n.attrs.items().empty()) label += "\\n" + n.attrs.str();
    label += "\\n" + metas_str(n.outputs);
    if (n.inplace_of >= 0 && n.inplace_of < static_cast<int32_t>(n.inputs.size()))
      label += "\\n[inplace over %" + std::to_string(n.inputs[n.inplace_of].node) + "]";
    if (n.hoisted) label += "\\n[hoisted]";
    if (n.loc.known()) label += "\\n@ " + n.loc.str();
    std::string escaped;
    for (char c : label) {
      if (c == '"')
        escaped += "\\\"";
      else
        escaped += c;
    }
    const char* style = n.kind == NodeKind::input     ? ", style=filled, fillcolor=lightblue"
                        : n.kind == NodeKind::capture ? ", style=filled, fillcolor=lightgrey"
                        : n.mutates()                 ? ", style=filled, fillcolor=orange"
                                                      : "";
    os << "  n" << i << " [label=\"" << escaped << "\"" << style << "];\n";
    for (const ValueRef& r : n.inputs) os << "  n" << r.node << " -> n" << i << ";\n";
  }
  os << "}\n";
  return os.str();
}

}  // namespace duet::detail
