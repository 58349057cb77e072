// CPU kernels for unary math and ops with a scalar attribute.
#pragma once

#include "elementwise_ops.h"
#include "ops/op_def.h"

namespace duet::cpu_kernels {

DUET_UNARY_OPS(DUET_DECLARE_KERNEL)        // kernels/elementwise_ops.h
void clamp(const KernelArgs& k);           // attrs: lo, hi
void clamp_backward(const KernelArgs& k);  // inputs: grad, x; attrs: lo, hi

}  // namespace duet::cpu_kernels
