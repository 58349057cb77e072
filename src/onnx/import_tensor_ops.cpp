// ONNX operators of tensor math and shapes (elementwise math with broadcasting, Reshape,
// Transpose, Concat, Shape, Gather, Slice, reductions, Constant, ...) mapped onto duet's ops
// (src/onnx/import_ops.h).
#include "onnx/import_ops.h"

namespace duet::onnx::detail {

std::span<const OperatorDef> tensor_operators() {
  return {};  // part C fills this table
}

}  // namespace duet::onnx::detail
