// The ONNX operator table of the importer: one OperatorDef per ONNX operator, each a
// converter that maps one NodeProto onto duet's public ops (duet/ops/*.h). The same converter
// runs eagerly (concrete tensors) and while a Graph records (symbolic tensors), like any
// model code.
//
//   // src/onnx/import_nn_ops.cpp
//   std::vector<Tensor> convert_relu(NodeContext& n) { return {relu(n.input(0))}; }
//   const OperatorDef kNnOperators[] = {{"Relu", 6, convert_relu}, ...};
//   std::span<const OperatorDef> nn_operators() { return kNnOperators; }
//
// The registry (src/onnx/import_registry.cpp) joins the families' tables; supported_operators()
// and load()'s operator check read it. A converter throws n.fail("...") for attribute values
// or input combinations it does not support: duet::Error "onnx: <file>: node 'name' (Conv):
// ..." naming what is supported.
//
// Constants: a value is *constant* when it is known without the model's inputs (an
// initializer, a Constant node, a Shape output, or computed from those only). The runner
// (src/onnx/model.cpp) evaluates a node whose inputs are all constant eagerly, with graph
// recording paused, so its outputs are constant too: shape arithmetic folds on the host and
// never reaches a compiled graph. Converters read constant inputs (Reshape's shape, Pad's
// pads, Clip's bounds, Slice's starts ...) with constant_ints / constant_doubles.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "duet/tensor.h"
#include "onnx/proto.h"

namespace duet::onnx::detail {

struct NodeRun;  // the runner's state for one node (src/onnx/model.cpp)

class NodeContext {
 public:
  NodeContext(const ::onnx::NodeProto& node, int64_t opset, const std::string& file,
              NodeRun& run);

  const ::onnx::NodeProto& node() const { return node_; }
  int64_t opset() const { return opset_; }  // the model's ai.onnx opset
  // "node 'Conv_12' (Conv)" (or "node #12 (Conv)" when unnamed), for messages.
  std::string where() const;
  // Throws duet::Error "onnx: <file>: node 'Conv_12' (Conv): <what>".
  [[noreturn]] void fail(const std::string& what) const;

  // ---- attributes (a wrong attribute type is an error naming the attribute) ----
  bool has_attr(const std::string& name) const;
  int64_t attr_int(const std::string& name, int64_t fallback) const;
  double attr_float(const std::string& name, double fallback) const;
  std::string attr_string(const std::string& name, const std::string& fallback) const;
  std::vector<int64_t> attr_ints(const std::string& name,
                                 const std::vector<int64_t>& fallback = {}) const;
  std::vector<double> attr_floats(const std::string& name,
                                  const std::vector<double>& fallback = {}) const;
  // A TENSOR attribute (Constant's value, ConstantOfShape's value), decoded; fails if absent.
  Tensor attr_tensor(const std::string& name) const;
  // Fails naming every attribute of the node not in `known` (an attribute duet would
  // otherwise silently ignore).
  void expect_attrs(std::initializer_list<const char*> known) const;

  // ---- inputs (ONNX marks an omitted optional input with the empty name) ----
  size_t num_inputs() const;             // node.input_size()
  bool has_input(size_t i) const;        // i < num_inputs() and the name is not empty
  const Tensor& input(size_t i) const;   // fails if !has_input(i)
  bool is_constant(size_t i) const;      // see above; false when !has_input(i)
  // The values of constant input i (int64, or a floating dtype holding whole numbers), read
  // on the host; fails if the input is not constant or the values are not integral.
  std::vector<int64_t> constant_ints(size_t i) const;
  std::vector<double> constant_doubles(size_t i) const;
  size_t num_outputs() const;            // node.output_size()

  // For converters whose outputs are known without the model's inputs although an input is
  // not (Shape, Size): marks every output constant.
  void set_outputs_constant() { outputs_constant_ = true; }
  bool outputs_constant() const { return outputs_constant_; }

 private:
  const ::onnx::NodeProto& node_;
  int64_t opset_;
  const std::string& file_;
  NodeRun& run_;
  bool outputs_constant_ = false;
};

// Returns one tensor per node output (an undefined tensor for an optional output no one
// reads, e.g. Dropout's mask or MaxPool's Indices, is allowed only where the file leaves the
// output name empty or unused).
using Converter = std::vector<Tensor> (*)(NodeContext& n);

struct OperatorDef {
  const char* op_type;  // ONNX operator name, domain ai.onnx ("" or "ai.onnx")
  int64_t since = 1;    // lowest opset whose semantics the converter implements
  Converter convert = nullptr;
  // For docs/onnx.md and the backend-test report: what the converter does not support
  // ("auto_pad=VALID only with ...", "" when complete).
  const char* limits = "";
};

// The families (one file each). The registry checks at start-up that no op_type repeats.
std::span<const OperatorDef> nn_operators();      // import_nn_ops.cpp: Conv, pools, BN, ...
std::span<const OperatorDef> tensor_operators();  // import_tensor_ops.cpp: shapes, math, ...
// Every operator (sorted by op_type) and one by name (null when unsupported).
std::span<const OperatorDef> all_operators();
const OperatorDef* find_operator(const std::string& op_type);

}  // namespace duet::onnx::detail
