// The process group: the loaded engine plugin (comm_backend.h) and the communication thread
// that runs its collectives in call order. duet/distributed.h's functions, the gradient
// reducer (ddp) and the graph-mode collective ops (collective_ops) all go through it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "distributed/comm_backend.h"
#include "duet/distributed.h"

namespace duet::distributed::detail {

class ProcessGroup {
 public:
  // The group init() made; throws duet::Error ("distributed: not initialized; call
  // duet::distributed::init() first") when there is none.
  static ProcessGroup& get();
  static ProcessGroup* current();  // null when not initialized

  virtual ~ProcessGroup() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual int local_rank() const = 0;
  virtual Backend backend() const = 0;
  virtual std::chrono::milliseconds timeout() const = 0;
  virtual bool check_shapes() const = 0;

  // Raw collectives, queued on the communication thread in call order; no shape check.
  // `what` names the call in errors ("all_reduce of bucket 3 (float32, 1048576 elements)").
  // Buffers: host memory (CPU engines). avg = sum, then divide by world_size (floating only).
  virtual std::shared_ptr<Work> all_reduce(void* buf, int64_t count, DType dtype, ReduceOp op,
                                           std::string what) = 0;
  virtual std::shared_ptr<Work> broadcast(void* buf, int64_t count, DType dtype, int root,
                                          std::string what) = 0;
  virtual std::shared_ptr<Work> all_gather(const void* send, void* recv, int64_t count,
                                           DType dtype, std::string what) = 0;
  virtual std::shared_ptr<Work> reduce_scatter(const void* send, void* recv, int64_t count,
                                               DType dtype, ReduceOp op, std::string what) = 0;
  virtual std::shared_ptr<Work> barrier(std::string what) = 0;

  // Every rank passes its `signature` (say dtype, rank and dims of each tensor); when they
  // differ, throws duet::Error on every rank: "<what>: rank 0 has <describe(sig0)> but rank 1
  // has <describe(sig1)>; expected the same on every rank". Blocking.
  virtual void check_same(const std::string& what, const std::vector<int64_t>& signature,
                          const std::function<std::string(const std::vector<int64_t>&)>&
                              describe) = 0;

  // The NCCL engine for CUDA buffers (Backend::nccl), null otherwise. Its collectives are
  // stream-ordered on the CUDA device's stream and are called directly from the calling
  // thread (no communication thread), so that a CUDA Graph can capture them.
  virtual CommBackend* device_engine() = 0;
};

// Describes a tensor signature made by tensor_signature(): "float32 (2, 3)".
std::vector<int64_t> tensor_signature(const Tensor& t);
std::string describe_tensor_signature(const std::vector<int64_t>& sig);

}  // namespace duet::distributed::detail
