// The interface a collective engine plugin implements (libduet_mpi.so, libduet_gloo.so,
// libduet_nccl.so), and the process group's side of it.
//
// A plugin exports one extern "C" function named kCommBackendEntry:
//
//   extern "C" duet::distributed::detail::CommBackend* duet_comm_backend_create(
//       const duet::distributed::detail::CommInit& init) { return new MpiBackend(init); }
//
// It is built from the same sources as libduet and links it (C++ types cross the boundary and
// duet::Error may be thrown); CommInit::abi is checked first. The process group
// (process_group.cpp) calls every method on its one communication thread, never concurrently
// (so MPI may be initialized with MPI_THREAD_FUNNELED on that thread): create() too, and the
// destructor, which finalizes the engine.
//
// Collectives are started non-blocking and polled: start_* returns a Request, and the thread
// calls test() until it returns true (sleeping briefly between polls, so a rank waiting for
// its peer does not take a core from the compute threads), or until the group's timeout.
// Buffers are contiguous, on the device the backend serves (host memory for MPI and Gloo),
// and stay valid until the request completed. count is in elements of dtype.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "duet/distributed.h"
#include "duet/dtype.h"
#include "duet/error.h"

namespace duet::distributed::detail {

// This namespace hides duet::detail: bring its message helper in (detail::cat(...)).
using ::duet::detail::cat;

inline constexpr uint32_t kCommBackendAbi = 1;
inline constexpr const char* kCommBackendEntry = "duet_comm_backend_create";

struct CommInit {
  uint32_t abi = kCommBackendAbi;
  Backend backend = Backend::mpi;
  std::chrono::milliseconds timeout{300000};
  // nccl: the bootstrap engine (already created, on the same thread) to exchange the
  // ncclUniqueId with; null otherwise.
  class CommBackend* bootstrap = nullptr;
};

class Request {
 public:
  virtual ~Request() = default;
  // True once complete (the result is in the buffers). Throws duet::Error on failure.
  virtual bool test() = 0;
};

class CommBackend {
 public:
  virtual ~CommBackend() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual int local_rank() const = 0;
  virtual const char* name() const = 0;  // "mpi", "gloo", "nccl"
  // The device type whose memory the buffers are in.
  virtual DeviceType device_type() const { return DeviceType::cpu; }

  // In place on buf (count elements). avg never reaches a backend: the group sums, then
  // divides.
  virtual std::unique_ptr<Request> start_all_reduce(void* buf, int64_t count, DType dtype,
                                                    ReduceOp op) = 0;
  virtual std::unique_ptr<Request> start_broadcast(void* buf, int64_t count, DType dtype,
                                                   int root) = 0;
  // recv holds world_size * count elements, rank r's at r * count.
  virtual std::unique_ptr<Request> start_all_gather(const void* send, void* recv, int64_t count,
                                                    DType dtype) = 0;
  // send holds world_size * count elements; recv gets this rank's reduced count.
  virtual std::unique_ptr<Request> start_reduce_scatter(const void* send, void* recv,
                                                        int64_t count, DType dtype,
                                                        ReduceOp op) = 0;
  virtual std::unique_ptr<Request> start_barrier() = 0;
  // Called when the group broke (timeout, failure): end this process's part without waiting
  // for peers (MPI_Abort is allowed: it ends the job). Default: nothing.
  virtual void abort(const std::string& /*why*/) noexcept {}
};

// Signature of kCommBackendEntry.
using CommBackendCreateFn = CommBackend* (*)(const CommInit&);

}  // namespace duet::distributed::detail
