// CPU kernel for linear_grad_adam_step_ (src/ops/fused_update_ops.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "ops/op_def.h"

namespace duet::cpu_kernels {

// Bytes of scratch: one block of gradient rows per thread (rows: the batch rows of x).
size_t linear_grad_adam_workspace_bytes(int64_t rows, int64_t out, int64_t in, size_t elem_size);
void linear_grad_adam_step(const KernelArgs& k);

}  // namespace duet::cpu_kernels
