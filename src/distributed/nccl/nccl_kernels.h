// The CUDA kernels of graph mode's collective ops (src/ops/collective_ops.h), registered in
// the op table when libduet_nccl.so creates its engine:
//   all_reduce_start (CUDA): NcclBackend::fork_all_reduce: the compute stream's work so far
//                            (an event), then ncclAllReduce in place on the bucket on the
//                            engine's communication stream (ncclAvg for op=avg); the token
//                            (int64 (1)) := tag on the compute stream;
//   all_reduce_wait  (CUDA): join_all_reduce: the compute stream waits for that all-reduce (an
//                            event; the host never waits); a device copy when the in-place
//                            pass did not give the output the bucket's own buffer.
//   all_reduce_sum   (CUDA): SyncBatchNorm2d's out-of-place sum (src/ops/sync_ops.cpp), on the
//                            compute stream.
// The kernels the schedule put between the two run beside the all-reduce. Events and stream
// waits only, no host sync: a CUDA Graph capture records the fork and join as edges and the
// NCCL call as a node (NCCL >= 2.9).
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace duet::distributed::nccl_engine {

// Idempotent.
void register_nccl_kernels();

// nccl_token.cu: *token = value, as one kernel on `stream` (capturable).
void write_token(int64_t* token, int64_t value, cudaStream_t stream);

}  // namespace duet::distributed::nccl_engine
