// The importer's internal state, shared by load.cpp (which builds it), model.cpp (the runner
// and NodeContext) and tensor_proto.cpp: a parsed model whose nodes are resolved to integer
// value slots, so that one forward call does no string lookups.
//
//   slot:   0 ... num_slots-1, one per ONNX value name (graph inputs, initializers, node outputs)
//   base:   initializers (and, with LoadOptions::fold_constants, the values folded at load)
//   forward: values = base; values[input_slots[i]] = inputs[i]; each node in order ...
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "duet/onnx.h"
#include "onnx/import_ops.h"
#include "onnx/proto.h"

namespace duet::onnx::detail {

using ::duet::detail::cat;  // duet::onnx::detail hides duet::detail

// One node, resolved at load.
struct NodeInfo {
  int index = 0;  // position in graph.node
  const ::onnx::NodeProto* proto = nullptr;
  const OperatorDef* op = nullptr;
  std::vector<int> inputs;   // slot per input; -1 for an omitted optional input
  std::vector<int> outputs;  // slot per output; -1 for an empty output name
  bool folded = false;       // evaluated at load (base holds its outputs)
  // Slots this node is the last to touch in a forward call (read or written; graph outputs
  // excepted): forward_many drops them after the node, so an eager call keeps only the live
  // activations, not every intermediate of the model.
  std::vector<int> release;
};

// The runner's state for one node during one call (NodeContext reads through it).
struct NodeRun {
  const NodeInfo& info;
  const Model::Impl& impl;
  const std::vector<Tensor>& values;
  const std::vector<uint8_t>& constant;
};

// "'name'" with the name cut to a readable length (a hostile file's names can be huge).
std::string quoted(const std::string& name);
// "node 'name' (Op)" or "node #12 (Op)" when unnamed.
std::string node_where(const ::onnx::NodeProto& node, int index);

// tensor_from_proto with every message starting with `where` + ": ".
Tensor decode_tensor(const ::onnx::TensorProto& proto, const std::string& where,
                     const TensorLimits& limits);
// The bytes of a file, at most `max_bytes` (and < 2 GiB, protobuf's limit).
std::vector<unsigned char> read_onnx_file(const std::string& path, int64_t max_bytes,
                                          const char* what);
// Runs node `info` on `values` (its converter, with the runner's checks and error prefix),
// storing its outputs; `constant` says which slots hold constants. Used by forward_many and
// by load's constant folding.
void run_node(const Model::Impl& impl, const NodeInfo& info, std::vector<Tensor>& values,
              std::vector<uint8_t>& constant);

}  // namespace duet::onnx::detail

namespace duet::onnx {

struct Model::Impl {
  std::string path;          // the file, "<memory>" or the caller's name
  ::onnx::ModelProto proto;  // initializers cleared once decoded
  LoadOptions options;
  int64_t opset = 0;
  int64_t ir_version = 0;
  std::string producer_name;

  std::vector<ValueInfo> inputs, outputs;
  std::vector<int> input_slots, output_slots;
  std::map<std::string, Tensor> initializers;

  int num_slots = 0;
  std::vector<std::string> slot_names;  // for messages
  std::vector<Tensor> base;             // num_slots entries: initializers, folded values
  std::vector<uint8_t> base_constant;   // 1 where base holds a constant
  std::vector<uint8_t> needed;          // 1 where a later node or a graph output reads the slot
  std::vector<detail::NodeInfo> nodes;  // in file order
  std::vector<int> run_order;           // indices into nodes that are not folded
};

}  // namespace duet::onnx
