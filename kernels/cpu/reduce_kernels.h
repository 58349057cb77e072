// CPU kernels for reductions (sum, mean, max, argmax) and the gradient of max.
//
// Reductions run over arbitrary axis sets without permuting: the input is coalesced into
// groups of adjacent kept/reduced axes, and each reduced group is folded as an
// (outer, reduce, inner) problem, innermost group first. Float sums accumulate in double.
// Work splits into fixed-size chunks combined in a fixed order, so results do not depend
// on the number of OpenMP threads.
#pragma once

#include <vector>

#include "ops/op_def.h"

namespace duet::cpu_kernels {

// Which axes of a rank-`rank` tensor `axes` names (empty: all). Throws duet::Error naming
// `op` and `shape` for an axis out of range or repeated.
std::vector<bool> reduced_axes_mask(const Shape& shape, const std::vector<int64_t>& axes,
                                    const char* op);

void sum(const KernelArgs& k);     // attrs: axes, keepdim; float32/float64/int64, bool -> int64
void mean(const KernelArgs& k);    // attrs: axes, keepdim; float32/float64
void max(const KernelArgs& k);     // attrs: axes, keepdim; float32/float64/int64
void argmax(const KernelArgs& k);  // attrs: axis, keepdim; output int64
// inputs: grad (shaped like the max output), x; attrs: axes, keepdim; output like x.
void max_backward(const KernelArgs& k);

}  // namespace duet::cpu_kernels
