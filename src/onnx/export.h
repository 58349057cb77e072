// The ONNX exporter's internals: the Emitter that export.cpp hands to the op mapping table
// (export_ops.cpp) once per duet node, and the table's entry point.
//
//   void map_relu6(Emitter& e) {                  // one duet node -> ONNX nodes
//     e.add("Clip", {e.in(0), e.scalar(0.0, e.in_meta(0).dtype), e.scalar(6.0, ...)},
//           {e.out(0)});
//   }
//
// Names: graph inputs keep their names; captured tensors (and values computed from captures
// only, evaluated at export) are initializers ("layer1.0.conv1.weight", or "c<node id>");
// a node's outputs are "v<id>" ("v<id>_<k>" for output k > 0) unless they are graph outputs;
// an ONNX node made for duet node %17 is "<OnnxOp>_17" ("<OnnxOp>_17_1", ... when one duet
// node becomes several of the same type).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "duet/onnx.h"
#include "graph/ir.h"
#include "onnx/proto.h"

namespace duet::onnx::detail {

using duet::detail::GraphData;
using duet::detail::Node;
using duet::detail::ValueRef;
using duet::detail::TensorImpl;

// Inference batch norm as nn::BatchNorm2d records it in an eval graph:
//   scale = rsqrt(running_var + eps) [* weight], shift = -(running_mean * scale) [+ bias],
//   y = channel_affine(x, scale, shift).
struct BatchNormPattern {
  ValueRef weight{}, bias{}, mean{}, var{};  // weight / bias invalid when the BN has none
  double eps = 0;
};

class Emitter {
 public:
  // Everything the emitter needs to know about the exported graph (export.cpp fills it).
  struct Context {
    const GraphData* graph = nullptr;
    ::onnx::GraphProto* proto = nullptr;
    const ExportOptions* options = nullptr;
    // Per node: the ids shown in names and messages (the user's node ids where they survive).
    std::vector<int64_t> display_id;
    // Per value: its name (inputs, graph outputs); the rest are made on demand.
    std::map<ValueRef, std::string> names;
    // Per value computed only from captures: its concrete value (an initializer when used).
    std::map<ValueRef, Tensor> constants;
    // Initializer names for captured tensors (module export: state_dict names).
    std::map<const TensorImpl*, std::string> param_names;
    // Per value: the axis holding the dynamic batch (-1: none).
    std::map<ValueRef, int> batch_axis;
    std::map<int32_t, BatchNormPattern> batch_norms;  // channel_affine node -> its BN
    // Bookkeeping: every name given so far, the initializer of each captured tensor, the
    // scalar initializers by (dtype, value).
    std::set<std::string> names_used;
    std::set<ValueRef> used;  // values some exported node or a graph output reads
    std::map<const TensorImpl*, std::string> initializer_of;
    std::map<std::pair<int, double>, std::string> scalars;
  };

  Emitter(Context& ctx, int32_t node);

  const Node& node() const;
  Context& context() { return ctx_; }
  int32_t node_index() const { return node_; }
  int64_t opset() const;
  bool dynamic_batch() const;
  size_t num_inputs() const;
  // The ONNX value name of input k / output k (an input that is a constant becomes an
  // initializer the first time it is asked for).
  std::string in(size_t k);
  std::string out(size_t k = 0);
  std::string value_name(ValueRef v);
  const TensorMeta& in_meta(size_t k) const;
  const TensorMeta& out_meta(size_t k = 0) const;
  ValueRef in_ref(size_t k) const;
  // Input k's concrete value when it is computed from captures only (else undefined).
  Tensor in_constant(size_t k) const;
  Tensor constant_of(ValueRef v) const;
  int batch_axis_of_input(size_t k) const;
  // A fresh name for an intermediate value of this node ("v17_<what>").
  std::string tmp(const std::string& what);
  // Appends an ONNX node (name "<type>_<id>", doc_string with the duet node and its source).
  ::onnx::NodeProto& add(const std::string& type, const std::vector<std::string>& inputs,
                         const std::vector<std::string>& outputs);
  // Initializers made for this node: a scalar of dtype `t`, a 1-D int64 vector, any tensor.
  std::string scalar(double v, DType t);
  std::string int64s(const std::vector<int64_t>& v, const std::string& what);
  std::string constant(const Tensor& t, const std::string& what);
  // "onnx export: op 'x' (node %17, created at f.cpp:42) <why>".
  [[noreturn]] void fail(const std::string& why) const;
  std::string where() const;

 private:
  std::string initializer(const Tensor& t, const std::string& name);
  Context& ctx_;
  int32_t node_;
  std::map<std::string, int> type_count_;
};

// Attribute setters.
void set_attr(::onnx::NodeProto& n, const std::string& name, int64_t v);
void set_attr(::onnx::NodeProto& n, const std::string& name, double v);
void set_attr(::onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v);
void set_attr(::onnx::NodeProto& n, const std::string& name, const std::string& v);

// The mapping table (export_ops.cpp): writes the ONNX nodes of e.node(), or throws naming the
// op and its source location when it has no ONNX mapping.
void export_op(Emitter& e);

// The axis that carries the batch in output `output` of op node `n`, given its inputs' batch
// axes (-1: none); used for dynamic_batch (export_ops.cpp).
int batch_axis_after(const Node& n, const std::vector<int>& input_axes, const GraphData& g,
                     int output);

}  // namespace duet::onnx::detail
