// CPU kernels for broadcasting binary ops, comparisons and where.
#pragma once

#include "ops/op_def.h"

namespace duet::cpu_kernels {

void add(const KernelArgs& k);
void sub(const KernelArgs& k);
void mul(const KernelArgs& k);
void div(const KernelArgs& k);
void maximum(const KernelArgs& k);
void minimum(const KernelArgs& k);
void eq(const KernelArgs& k);
void ne(const KernelArgs& k);
void lt(const KernelArgs& k);
void le(const KernelArgs& k);
void gt(const KernelArgs& k);
void ge(const KernelArgs& k);
void where(const KernelArgs& k);  // inputs: cond (bool), a, b

}  // namespace duet::cpu_kernels
