// CPU kernels for shape ops that move data (concat, pad, sum_to).
#pragma once

#include "ops/op_def.h"

namespace duet::cpu_kernels {

void sum_to(const KernelArgs& k);  // inputs: x; output: x summed to attrs.shape
void concat(const KernelArgs& k);  // inputs: xs...; attrs: axis
void pad(const KernelArgs& k);     // inputs: x; attrs: pads, value

}  // namespace duet::cpu_kernels
