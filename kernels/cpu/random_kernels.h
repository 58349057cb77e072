// CPU kernels for ops that draw random numbers.
#pragma once

#include "ops/op_def.h"

namespace duet::cpu_kernels {

// inputs: x; outputs: y = x * mask, mask (x's dtype; 0 or 1 / (1 - p)); attrs: p, seed.
// An element is kept when its 32 random bits are >= ceil(p * 2^32).
// Elements are split into fixed-size chunks, each with its own generator seeded from
// (seed, chunk index), so the mask depends only on the seed, never on the thread count.
void dropout(const KernelArgs& k);

}  // namespace duet::cpu_kernels
