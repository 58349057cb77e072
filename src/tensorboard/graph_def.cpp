#include "tensorboard/graph_def.h"

#include <set>
#include <vector>

#include "graph/ir.h"
#include "tensorboard/proto_writer.h"

namespace duet::tensorboard::detail {
namespace {

using duet::detail::GraphData;
using duet::detail::Node;
using duet::detail::NodeKind;

// AttrValue { string s = 2 }
ProtoWriter attr_string(const std::string& s) {
  ProtoWriter v;
  v.bytes_field(2, s);
  return v;
}

// map<string, AttrValue> entry { key = 1; value = 2; }
void add_attr(ProtoWriter& node, const std::string& key, const ProtoWriter& value) {
  ProtoWriter entry;
  entry.string_field(1, key);
  entry.message_field(2, value);
  node.message_field(5, entry);
}

// AttrValue { ListValue list = 1 { repeated TensorShapeProto shape = 7 } }
ProtoWriter output_shapes(const Node& n) {
  ProtoWriter list;
  for (const auto& meta : n.outputs) {
    ProtoWriter shape;
    for (int64_t d : meta.shape) {
      ProtoWriter dim;
      dim.varint_field(1, d);
      shape.message_field(2, dim);
    }
    list.message_field(7, shape);
  }
  ProtoWriter v;
  v.message_field(1, list);
  return v;
}

std::string node_name(const GraphData& g, size_t i,
                      const std::map<const void*, std::string>& names) {
  const Node& n = g.nodes[i];
  switch (n.kind) {
    case NodeKind::input:
      return "input/" + n.name;
    case NodeKind::capture: {
      auto it = n.captured.defined() ? names.find(n.captured.data_ptr()) : names.end();
      return it != names.end() ? it->second : "capture/" + std::to_string(i);
    }
    case NodeKind::op:
      return n.op->name + "_" + std::to_string(i);
  }
  return "node_" + std::to_string(i);
}

}  // namespace

std::string encode_graph_def(const GraphData& g, const std::map<const void*, std::string>& names) {
  std::vector<std::string> name(g.nodes.size());
  std::set<std::string> used;  // NodeDef names are unique: a repeated one gets "_<index>"
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    name[i] = node_name(g, i, names);
    if (!used.insert(name[i]).second) {
      name[i] += "_" + std::to_string(i);
      used.insert(name[i]);
    }
  }
  ProtoWriter graph;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (n.dead) continue;
    ProtoWriter node;
    node.string_field(1, name[i]);
    node.string_field(2, n.kind == NodeKind::op       ? n.op->name
                         : n.kind == NodeKind::input  ? std::string("input")
                         : n.captured.requires_grad() ? std::string("parameter")
                                                      : std::string("tensor"));
    if (n.kind == NodeKind::op) {
      for (const auto& in : n.inputs) {
        std::string ref = name[static_cast<size_t>(in.node)];
        if (in.output != 0) ref += ":" + std::to_string(in.output);
        node.string_field(3, ref);
      }
    }
    add_attr(node, "_output_shapes", output_shapes(n));
    if (!n.outputs.empty()) add_attr(node, "dtype", attr_string(dtype_name(n.outputs[0].dtype)));
    if (n.kind == NodeKind::op && !n.attrs.items().empty())
      add_attr(node, "attrs", attr_string(n.attrs.str()));
    // The model line that made the node (an input's is where the graph was built: omitted).
    if (n.loc.known() && n.kind != NodeKind::input)
      add_attr(node, "source", attr_string(n.loc.str()));
    graph.message_field(1, node);
  }
  ProtoWriter versions;  // VersionDef { int32 producer = 1 }: what torch.utils.tensorboard writes
  versions.varint_field(1, 22);
  graph.message_field(4, versions);
  return graph.release();
}

}  // namespace duet::tensorboard::detail
