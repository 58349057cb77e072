// A duet graph as a TensorBoard GraphDef (tensorboard/compat/proto/graph.proto):
//   GraphDef { repeated NodeDef node = 1; VersionDef versions = 4; }
//   NodeDef  { string name = 1; string op = 2; repeated string input = 3;
//              map<string, AttrValue> attr = 5; }
// Node names: inputs "input/<feed name>", captures "<parameter name>" when `names` knows the
// tensor (else "capture/<node index>"), ops "<op>_<node index>". Attributes: "_output_shapes"
// (what TensorBoard draws on the edges), "dtype", "source" (the model line that made the node;
// not for inputs), and the op's own attributes as text ("attrs").
#pragma once

#include <map>
#include <string>

namespace duet::detail {
struct GraphData;
}

namespace duet::tensorboard::detail {

// `names`: a captured tensor's data pointer -> its name (a module's state_dict).
std::string encode_graph_def(const duet::detail::GraphData& graph,
                             const std::map<const void*, std::string>& names = {});

}  // namespace duet::tensorboard::detail
