// duet::summary: a model's layers in a table, like torchinfo's summary() or Keras'
// model.summary(): per module call its path and type, output shape, parameters, multiply-adds
// and whether it trains, then totals and memory estimates.
//
//   auto net = duet::models::create_model("resnet18", 1000);
//   duet::Summary s = duet::summary(*net, {1, 3, 224, 224});
//   std::cout << s;                 // the table
//   s.total_params;                 // 11689512
//   s.total_multiply_adds;          // 1814083944 (1.81 G)
//
// Nothing is computed: the model is traced once as a graph (duet/graph.h) on symbolic
// inputs, in eval mode, so any input size costs no memory. Each op's multiply-adds
// (OpDef::macs, the rule behind duet::multiply_adds) count toward every module whose call
// was running when the op was recorded.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "duet/dtype.h"
#include "duet/nn/module.h"
#include "duet/shape.h"

namespace duet {

struct SummaryOptions {
  DType dtype = float32;  // of the inputs
  // Rows for module calls up to this depth (0: the model itself; torchinfo's default 3).
  // Totals always cover the whole model.
  int depth = 3;
};

struct SummaryRow {
  std::string name;      // path in the model: "layer1.0.conv1"; "" for the model itself
  std::string type;      // "Conv2d"
  int depth = 0;         // 0 for the model, 1 for its children, ...
  Shape output_shape{};  // the first output's
  int64_t num_outputs = 1;
  int64_t params = 0;            // elements of the module's parameters, its children's included
  int64_t trainable_params = 0;  // those that require grad
  int64_t multiply_adds = 0;     // the ops run inside this call, its children's included
  bool repeated = false;         // a second call of the same module (its parameters counted once)
};

class Summary {
 public:
  std::vector<SummaryRow> rows;  // module calls in call order, up to options.depth
  int64_t total_params = 0;      // unique parameters of the model
  int64_t trainable_params = 0;
  int64_t non_trainable_params = 0;
  int64_t total_multiply_adds = 0;  // every op of the forward pass
  int64_t input_bytes = 0;          // the inputs
  int64_t params_bytes = 0;         // parameter storage
  int64_t buffers_bytes = 0;        // buffers (BatchNorm running statistics, ...)
  // torchinfo's "forward/backward pass size": the outputs of the leaf modules (those with no
  // children) for the forward pass, and as many bytes again for their gradients.
  int64_t forward_activation_bytes = 0;
  int64_t backward_activation_bytes = 0;
  int64_t total_bytes() const {
    return input_bytes + params_bytes + buffers_bytes + forward_activation_bytes +
           backward_activation_bytes;
  }
  std::string str() const;  // the table
};

std::ostream& operator<<(std::ostream& os, const Summary& s);

// One input of `input_shape` (batch included). Throws the model's own duet::Error (naming the
// module path) when the shape does not fit the model.
Summary summary(nn::Module& model, const Shape& input_shape, const SummaryOptions& options = {});
// Several inputs (a module overriding forward_many).
Summary summary(nn::Module& model, const std::vector<Shape>& input_shapes,
                const SummaryOptions& options = {});

}  // namespace duet
