// The NCCL engine (libduet_nccl.so) behind Backend::nccl: collectives on CUDA buffers of the
// device local_rank, stream-ordered on that device's duet stream (cuda/runtime.h), so later
// kernels see the result without a host wait and a CUDA Graph being captured on the stream
// records the NCCL call as a node.
//
//   // ProcessGroup for Backend::nccl: the bootstrap engine (MPI or Gloo) first, then
//   CommInit dev{.backend = Backend::nccl, .timeout = t, .bootstrap = mpi_or_gloo};
//   auto* nccl = duet_comm_backend_create(dev);   // rank 0's ncclUniqueId, broadcast
//   nccl->start_all_reduce(grad.data_ptr(), n, float32, ReduceOp::sum)->test();
//
// Unlike the CPU engines, start_* is called from the caller's thread (ProcessGroup::
// device_engine), never concurrently; its Request's test() is true once the collective
// finished on the GPU (a CUDA event), or at once while the stream is being captured (the
// graph's replay orders it). ReduceOp::avg is accepted here (ncclAvg, floating only): the
// graph-mode all_reduce_start kernel uses it; the eager API sums and divides.
//
// The communicator is created non-blocking, so its creation and every call are bounded by
// the group's timeout: a rank that never joins is a duet::Error naming it, and abort() calls
// ncclCommAbort. A peer that dies during a collective already enqueued leaves the GPU
// waiting: the next host wait (test(), a copy to the CPU) is where the timeout shows.
#pragma once

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <map>
#include <utility>

#include "distributed/comm_backend.h"

namespace duet::distributed::nccl_engine {

class NcclBackend final : public detail::CommBackend {
 public:
  explicit NcclBackend(const detail::CommInit& init);
  ~NcclBackend() override;
  NcclBackend(const NcclBackend&) = delete;
  NcclBackend& operator=(const NcclBackend&) = delete;

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  int local_rank() const override { return local_rank_; }
  const char* name() const override { return "nccl"; }
  DeviceType device_type() const override { return DeviceType::cuda; }
  int device_index() const { return device_; }
  cudaStream_t stream() const { return stream_; }

  std::unique_ptr<detail::Request> start_all_reduce(void* buf, int64_t count, DType dtype,
                                                    ReduceOp op) override;
  std::unique_ptr<detail::Request> start_broadcast(void* buf, int64_t count, DType dtype,
                                                   int root) override;
  std::unique_ptr<detail::Request> start_all_gather(const void* send, void* recv, int64_t count,
                                                    DType dtype) override;
  std::unique_ptr<detail::Request> start_reduce_scatter(const void* send, void* recv, int64_t count,
                                                        DType dtype, ReduceOp op) override;
  // NCCL has no barrier: a one-element all-reduce, done when the GPU finished it.
  std::unique_ptr<detail::Request> start_barrier() override;
  void abort(const std::string& why) noexcept override;

  // The engine of the current process group's device side (all_reduce_start's CUDA kernel):
  // throws duet::Error naming `what` when the group is not an NCCL one.
  static NcclBackend& of_current_group(const char* what);

  // Graph mode's split all-reduce (all_reduce_start / all_reduce_wait's CUDA kernels), which
  // overlaps the compute stream: fork() enqueues the all-reduce on the engine's own
  // communication stream after the compute stream's work so far (event), so the kernels the
  // schedule put after the start run beside it; join() makes the compute stream wait for it.
  // Both are events and stream waits only, so a CUDA Graph capture records the fork and the
  // join as graph edges. `tag` pairs them (C's collective tag). With $DUET_NCCL_COMM_STREAM=0
  // fork runs on the compute stream and join does nothing (no overlap).
  void fork_all_reduce(int64_t tag, void* buf, int64_t count, DType dtype, ReduceOp op);
  void join_all_reduce(int64_t tag);

 private:
  // Checks an NCCL call's result: ncclInProgress waits (bounded by the timeout) until the
  // non-blocking communicator took the call; anything else throws naming `what`.
  void check(ncclResult_t r, const std::string& what);
  // A buffer in another device's memory (or host memory) is an error naming both devices.
  void check_buffer(const void* ptr, const std::string& what) const;
  std::unique_ptr<detail::Request> enqueued(const std::string& what);

  int rank_ = 0;
  int world_size_ = 1;
  int local_rank_ = 0;
  int device_ = 0;
  std::chrono::milliseconds timeout_;
  cudaStream_t stream_ = nullptr;
  ncclComm_t comm_ = nullptr;
  void* barrier_buf_ = nullptr;  // one float on the device
  // fork/join: the communication stream (null: $DUET_NCCL_COMM_STREAM=0) and, per tag, the
  // events of the fork (compute -> comm) and of the join (comm -> compute), kept for reuse
  // (one pair per bucket of each compiled graph).
  cudaStream_t comm_stream_ = nullptr;
  std::map<int64_t, std::pair<cudaEvent_t, cudaEvent_t>> tag_events_;
};

}  // namespace duet::distributed::nccl_engine
