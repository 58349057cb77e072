// CPU kernels for broadcasting binary ops, comparisons and where.
#pragma once

#include "elementwise_ops.h"
#include "ops/op_def.h"

namespace duet::cpu_kernels {

DUET_ARITH_OPS(DUET_DECLARE_KERNEL)  // kernels/elementwise_ops.h
DUET_COMPARE_OPS(DUET_DECLARE_KERNEL)
void where(const KernelArgs& k);  // inputs: cond (bool), a, b

}  // namespace duet::cpu_kernels
