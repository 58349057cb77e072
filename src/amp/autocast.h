// Autocast internals shared by eager mode (call_op) and the graph's "autocast" pass: the one
// rule that says which dtype an op's input is cast to (docs/mixed_precision.md, "Autocast").
//
//   // call_op, before infer: casts the inputs as op.autocast asks when autocast is on
//   detail::autocast_inputs(op, inputs);
//   // the graph pass: the same rule on recorded values
//   if (auto to = detail::autocast_target(op.autocast, meta.dtype, bfloat16)) ...
#pragma once

#include <optional>
#include <vector>

#include "duet/dtype.h"
#include "ops/op_def.h"

namespace duet::detail {

// The dtype an input of dtype `t` is cast to under autocast dtype `lowp` for an op with
// `policy`; nullopt: the input runs as it is.
//   lower:   float32 / float16 / bfloat16 inputs other than `lowp` -> lowp (float64, integer
//            and bool inputs are left alone, as torch.autocast does)
//   float32: float16 / bfloat16 -> float32
//   none:    nothing
std::optional<DType> autocast_target(AutocastPolicy policy, DType t, DType lowp);

// call_op's hook (eager and recording alike): when autocast is on on this thread and the op
// has a policy, replaces each input that autocast_target names by cast(input, target), an
// ordinary recorded cast op (a tape node in eager, a graph node while recording).
void autocast_inputs(const OpDef& op, std::vector<Tensor>& inputs);

}  // namespace duet::detail
