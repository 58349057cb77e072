// ONNX operators of neural-network layers (Conv, pooling, BatchNormalization, activations,
// Gemm/MatMul, Softmax, ...) mapped onto duet's ops (src/onnx/import_ops.h).
#include "onnx/import_ops.h"

namespace duet::onnx::detail {

std::span<const OperatorDef> nn_operators() {
  return {};  // part B fills this table
}

}  // namespace duet::onnx::detail
