// ONNX: export any duet model or compiled graph, import models from PyTorch, TensorFlow
// (tf2onnx) or any other exporter, and run them eagerly or compiled like a duet model.
//
//   // export: the model is traced in eval mode at the example inputs' shapes
//   auto net = duet::models::create_model("resnet18");
//   net->eval();
//   duet::onnx::export_model(*net, {duet::randn({1, 3, 224, 224})}, "resnet18.onnx",
//                            {.dynamic_batch = true});
//
//   // import: an nn::Module whose forward runs the ONNX graph with duet's ops
//   auto m = duet::onnx::load("resnet50.onnx");
//   auto logits = (*m)(x);                         // eager: op by op, x: (N, 3, 224, 224)
//   duet::Graph g;                                 // graph: the same calls record nodes
//   auto y = (*m)(g.input("x", {8, 3, 224, 224}));
//   auto exe = duet::compile(g, {y});              // every pass, the planner, CUDA Graphs
//   auto out = exe.run({{"x", batch}});
//
// The operator tables (which ONNX operators are read, which duet ops are written, at which
// opsets) are in docs/onnx.md; duet::onnx::supported_operators() lists the imported ones.
// Everything here throws duet::Error naming the file, the node and the operator; a malformed
// or hostile file (truncated, wrong types, cycles, missing initializers, absurd shapes) is an
// error, never a crash (docs/security.md lists the limits).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "duet/graph.h"
#include "duet/nn/module.h"
#include "duet/tensor.h"

namespace duet::onnx {

// True when this libduet was built with ONNX support (protobuf and onnx.proto found at
// build time); without it every function below throws duet::Error saying what to install.
bool available();

// ---- export -------------------------------------------------------------------------------

struct ExportOptions {
  int64_t opset = 17;          // the ai.onnx opset written: 13 ... 17
  bool dynamic_batch = false;  // axis 0 of every input and output is the symbolic "batch"
  // Export the eval graph after duet's inference passes fold each batch norm into the
  // convolution before it (the graph duet itself runs); false: BatchNormalization nodes.
  bool fold_batch_norm = true;
  // Graph input names (default: the Graph's input names; module export: "input", "input_1"...)
  // and output names (default: "output", "output_1", ...); sizes must match when given.
  std::vector<std::string> input_names{};
  std::vector<std::string> output_names{};
  std::string producer_name = "duet";
  std::string graph_name = "duet";
  std::string doc_string{};  // the model's doc_string
};

// Writes the ONNX model of `outputs`, values of the eval graph `graph` (built with
// GraphOptions::training = false and not compiled yet; export leaves it unchanged). Captured
// tensors (parameters, buffers, constants) become initializers; every node's name carries
// its duet node id and its doc_string the source location of the model code that made it.
// An op with no ONNX mapping throws duet::Error naming the op and that source location.
// The file is written atomically (temporary file, fsync, rename).
void export_model(const Graph& graph, const std::vector<Tensor>& outputs, const std::string& path,
                  const ExportOptions& options = {});

// Traces `module` (switched to eval for the trace, its mode restored after) on symbolic
// inputs with the example inputs' shapes and dtypes, then exports that graph.
void export_model(nn::Module& module, const std::vector<Tensor>& example_inputs,
                  const std::string& path, const ExportOptions& options = {});

// ---- import -------------------------------------------------------------------------------

// A graph input or output as the file declares it.
struct ValueInfo {
  std::string name;
  DType dtype = float32;
  std::vector<int64_t> dims{};         // -1 where the dimension is symbolic or unknown
  std::vector<std::string> dim_names{};  // the symbolic names ("batch", "N"); "" where fixed
  bool has_shape = false;              // false: the file declares no shape at all
};

struct LoadOptions {
  // Hostile-file limits, checked before anything is allocated (docs/security.md).
  int64_t max_file_bytes = int64_t{2} << 30;      // protobuf's own 2 GiB limit
  int64_t max_tensor_bytes = int64_t{1} << 32;    // one initializer or constant
  int64_t max_total_tensor_bytes = int64_t{1} << 33;  // all initializers, decoded
  int64_t max_nodes = 1'000'000;
  // Fold subgraphs that read only initializers and constants once, at load (the weights of
  // an exported model that divides its BN scale at run time, ...). false: folded per call.
  bool fold_constants = true;
};

// An imported model. Its forward_many runs the ONNX nodes in file order with duet's ops:
// on concrete tensors eagerly, and while a Graph records, as graph nodes (initializers are
// captured, never copied). Values computed only from initializers, Constant nodes and
// Shape outputs (ONNX's Shape -> Gather -> Unsqueeze -> Concat -> Reshape chains) are
// evaluated on the host as constants, so the graph duet compiles has static shapes.
// Inputs are checked against inputs(): count, dtype and every fixed dimension.
class Model : public nn::Module {
 public:
  struct Impl;
  explicit Model(std::shared_ptr<Impl> impl);
  ~Model() override;

  std::vector<Tensor> forward_many(const std::vector<Tensor>& inputs) override;

  // The graph inputs that are not initializers, and the graph outputs, in file order.
  const std::vector<ValueInfo>& inputs() const;
  const std::vector<ValueInfo>& outputs() const;
  // Feeds by input name; returns the outputs in outputs() order.
  std::vector<Tensor> run(const std::map<std::string, Tensor>& feeds);
  // Every initializer, by name (CPU tensors; ONNX int32 data is widened to int64).
  const std::map<std::string, Tensor>& initializers() const;
  int64_t opset() const;       // the ai.onnx opset the model imports
  int64_t ir_version() const;
  const std::string& producer_name() const;
  const std::string& path() const;  // the file ("<memory>" for load_from_memory)
  // Node count per operator type, e.g. {"Conv": 20, "Relu": 17, ...}.
  std::map<std::string, int64_t> operator_counts() const;

  // Builds a graph with one input per inputs() entry at the given shapes (same order),
  // records forward_many into it and compiles it.
  Executable compile(const std::vector<Shape>& input_shapes, const CompileOptions& options = {});

  Impl& impl() const { return *impl_; }

 private:
  std::shared_ptr<Impl> impl_;
};

// Reads and validates an ONNX file: the protobuf, the opset (ai.onnx 7 ... 17), every
// operator against supported_operators(), the initializers and the graph's structure (each
// node's inputs defined before it: a cycle or a missing initializer is an error naming the
// node and the value). Attribute values are checked when the model first runs.
std::shared_ptr<Model> load(const std::string& path, const LoadOptions& options = {});
// The same from bytes in memory (`name` is used in messages).
std::shared_ptr<Model> load_from_memory(const void* data, size_t size,
                                        const std::string& name = "<memory>",
                                        const LoadOptions& options = {});

// A serialized ONNX TensorProto file (ONNX's test_data_set_*/input_0.pb), as a CPU tensor.
Tensor load_tensor(const std::string& path);
// Writes `t` (CPU) as a serialized TensorProto named `name`.
void save_tensor(const Tensor& t, const std::string& path, const std::string& name = "");

// The ONNX operators load() accepts, sorted ("Add", "AveragePool", ..., "Unsqueeze").
std::vector<std::string> supported_operators();

}  // namespace duet::onnx
