// CUDA kernels for ops that draw random numbers: dropout, bit-identical to the CPU kernel
// (kernels/cpu/random_kernels.h) for the same seed. No CUDA headers: op files include this in
// every build.
#pragma once

#include "ops/op_def.h"

namespace duet::cuda_kernels {

// inputs: x; outputs: y = x * mask, mask (x's dtype; 0 or 1 / (1 - p)); attrs: p, seed.
void dropout(const KernelArgs& k);

}  // namespace duet::cuda_kernels
