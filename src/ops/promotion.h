// Implicit type promotion of mixed-dtype inputs (PyTorch's rules, duet::promote_types).
//
//   // call_op, before infer: add(float32, bfloat16) runs as add(float32, cast(b, float32))
//   detail::promote_inputs(op, inputs);
//
// docs/mixed_precision.md ("Dtypes") has the table.
#pragma once

#include <vector>

#include "ops/op_def.h"

namespace duet::detail {

// For the ops whose tensor operands combine (OpTrait::binary: add, sub, mul, div, maximum,
// minimum, the comparisons, but not the fused add_relu; where's two value inputs; concat's
// inputs, as torch.cat):
// when the operands' dtypes differ, each one whose dtype is not their promote_types is replaced
// by cast(input, promoted), an ordinary recorded cast op (a tape node in eager mode, so the
// gradient reaches the input in its own dtype; a graph node while recording). Other ops, and
// operands of equal dtypes, are left alone; an undefined input is left for call_op to report.
void promote_inputs(const OpDef& op, std::vector<Tensor>& inputs);

}  // namespace duet::detail
