// The CUDA kernels of graph mode's collective ops (src/ops/collective_ops.h), registered in
// the op table when libduet_nccl.so creates its engine:
//   all_reduce_start (CUDA): ncclAllReduce in place on the bucket, on the device's stream
//                            (ncclAvg for op=avg), and the token (int64 (1)) := tag;
//   all_reduce_wait  (CUDA): nothing to wait for on the host (stream order); copies the
//                            bucket into the output unless the in-place pass aliased them.
// Both are stream-ordered and host-sync free, so a CUDA Graph captures them (NCCL >= 2.9).
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace duet::distributed::nccl_engine {

// Idempotent.
void register_nccl_kernels();

// nccl_token.cu: *token = value, as one kernel on `stream` (capturable).
void write_token(int64_t* token, int64_t value, cudaStream_t stream);

}  // namespace duet::distributed::nccl_engine
