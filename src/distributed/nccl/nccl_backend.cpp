// NcclBackend (nccl_backend.h) and libduet_nccl.so's entry point.
#include "distributed/nccl/nccl_backend.h"

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "cuda/runtime.h"
#include "distributed/nccl/nccl_kernels.h"
#include "distributed/process_group.h"
#include "duet/cuda.h"
#include "duet/error.h"

namespace duet::distributed::nccl_engine {
namespace {

using Clock = std::chrono::steady_clock;
using ::duet::detail::cat;

std::string seconds_str(std::chrono::milliseconds ms) {
  return cat(static_cast<double>(ms.count()) / 1000.0, " s");
}

ncclDataType_t nccl_dtype(DType t) {
  switch (t) {
    case DType::float32:
      return ncclFloat32;
    case DType::float64:
      return ncclFloat64;
    case DType::int64:
      return ncclInt64;
    case DType::bool_:
      return ncclUint8;
    case DType::float16:
      return ncclFloat16;
    case DType::bfloat16:
      return ncclBfloat16;
  }
  throw Error(cat("distributed: nccl: unknown dtype ", static_cast<int>(t)));
}

// bool as 0/1 bytes: sum and max are or (ncclMax), min is and (ncclMin).
ncclRedOp_t nccl_op(ReduceOp op, DType t) {
  if (t == DType::bool_) {
    DUET_CHECK(op != ReduceOp::avg,
               "distributed: nccl: avg of a bool tensor; expected sum, min "
               "or max");
    return op == ReduceOp::min ? ncclMin : ncclMax;
  }
  switch (op) {
    case ReduceOp::sum:
      return ncclSum;
    case ReduceOp::min:
      return ncclMin;
    case ReduceOp::max:
      return ncclMax;
    case ReduceOp::avg:
      DUET_CHECK(is_floating(t), "distributed: nccl: avg of a ", dtype_name(t),
                 " tensor; expected a floating dtype (use sum for integers)");
      return ncclAvg;
  }
  return ncclSum;
}

// Done when the GPU passed the event (no event: recorded inside a CUDA Graph capture, which
// the replay orders); an asynchronous NCCL error (a peer failed) throws.
class NcclRequest final : public detail::Request {
 public:
  NcclRequest(ncclComm_t comm, cudaEvent_t event, std::string what)
      : comm_(comm), event_(event), what_(std::move(what)) {}
  ~NcclRequest() override {
    if (event_) cudaEventDestroy(event_);
  }
  bool test() override {
    ncclResult_t async = ncclSuccess;
    ncclCommGetAsyncError(comm_, &async);
    DUET_CHECK(async == ncclSuccess || async == ncclInProgress, "distributed: nccl ", what_,
               " failed: ", ncclGetErrorString(async), " (", ncclGetLastError(comm_), ")");
    if (!event_) return true;
    cudaError_t e = cudaEventQuery(event_);
    if (e == cudaErrorNotReady) return false;
    DUET_CUDA_CHECK(e);
    return true;
  }

 private:
  ncclComm_t comm_;
  cudaEvent_t event_;
  std::string what_;
};

}  // namespace

NcclBackend::NcclBackend(const detail::CommInit& init) : timeout_(init.timeout) {
  detail::CommBackend* boot = init.bootstrap;
  DUET_CHECK(boot != nullptr, "distributed: nccl needs a bootstrap engine (MPI or Gloo) to ",
             "share its ncclUniqueId; the process group passes it in CommInit::bootstrap");
  rank_ = boot->rank();
  world_size_ = boot->world_size();
  local_rank_ = boot->local_rank();
  const int devices = cuda_device_count();
  DUET_CHECK(devices > 0, "distributed: nccl: rank ", rank_, " sees no CUDA device (",
             cuda_unavailable_reason(), "); expected one GPU per local rank");
  DUET_CHECK(local_rank_ < devices, "distributed: nccl: rank ", rank_, " has local rank ",
             local_rank_, " but its host shows ", devices,
             " CUDA device(s); expected one GPU "
             "per process on each host (local rank r uses cuda:r)");
  device_ = local_rank_;
  stream_ = cuda_backend::context(device_).stream;  // also makes device_ current

  // Rank 0 makes the id; the bootstrap engine broadcasts its bytes (bool_: one byte each).
  ncclUniqueId id{};
  if (rank_ == 0) check(ncclGetUniqueId(&id), "ncclGetUniqueId");
  auto req = boot->start_broadcast(&id, static_cast<int64_t>(sizeof(id)), DType::bool_, 0);
  const auto deadline = Clock::now() + timeout_;
  while (!req->test()) {
    DUET_CHECK(Clock::now() < deadline, "distributed: nccl: rank ", rank_, " waited ",
               seconds_str(timeout_), " for rank 0's ncclUniqueId over ", boot->name());
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }

  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;  // bounded by our timeout instead of blocking until every rank joins
  ncclResult_t r = ncclCommInitRankConfig(&comm_, world_size_, id, rank_, &config);
  DUET_CHECK(r == ncclSuccess || r == ncclInProgress, "distributed: nccl: ncclCommInitRank on ",
             "rank ", rank_, " of ", world_size_, " (cuda:", device_,
             ") failed: ", ncclGetErrorString(r));
  try {
    check(r, cat("ncclCommInitRank (rank ", rank_, " of ", world_size_, ", cuda:", device_, ")"));
  } catch (...) {
    abort("init failed");
    throw;
  }
  DUET_CUDA_CHECK(cudaMalloc(&barrier_buf_, sizeof(float)));
  const char* comm_stream = std::getenv("DUET_NCCL_COMM_STREAM");
  if (!comm_stream || std::string(comm_stream) != "0") {
    int least = 0, greatest = 0;  // communication first when both streams have work ready
    DUET_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
    DUET_CUDA_CHECK(cudaStreamCreateWithPriority(&comm_stream_, cudaStreamNonBlocking, greatest));
  }
  register_nccl_kernels();
}

NcclBackend::~NcclBackend() {
  if (comm_) ncclCommDestroy(comm_);
  if (barrier_buf_) cudaFree(barrier_buf_);
  for (auto& [tag, events] : tag_events_) {
    cudaEventDestroy(events.first);
    cudaEventDestroy(events.second);
  }
  if (comm_stream_) cudaStreamDestroy(comm_stream_);
}

void NcclBackend::abort(const std::string&) noexcept {
  if (comm_) ncclCommAbort(comm_);
  comm_ = nullptr;
}

void NcclBackend::check_buffer(const void* ptr, const std::string& what) const {
  cudaPointerAttributes attr{};
  if (ptr == nullptr || cudaPointerGetAttributes(&attr, ptr) != cudaSuccess) {
    cudaGetLastError();  // clear the error of a failed query; NCCL reports a bad pointer
    return;
  }
  DUET_CHECK(attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged,
             "distributed: nccl: ", what,
             ": the buffer is not CUDA device memory; the NCCL "
             "engine serves CUDA tensors (CPU tensors go to the bootstrap engine)");
  DUET_CHECK(attr.device == device_, "distributed: nccl: ", what,
             ": the tensor is on cuda:", attr.device, " but rank ", rank_,
             "'s NCCL engine uses cuda:", device_,
             " (its local rank); expected tensors on cuda:", device_);
}

void NcclBackend::check(ncclResult_t r, const std::string& what) {
  const auto deadline = Clock::now() + timeout_;
  while (r == ncclInProgress && comm_) {
    ncclCommGetAsyncError(comm_, &r);
    if (r != ncclInProgress) break;
    if (Clock::now() >= deadline) {
      throw Error(cat("distributed: nccl: ", what, " did not complete within ",
                      seconds_str(timeout_), " on rank ", rank_, " of ", world_size_,
                      " (a peer did not join, or died)"));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  DUET_CHECK(r == ncclSuccess, "distributed: nccl: ", what, " failed on rank ", rank_, " of ",
             world_size_, ": ", ncclGetErrorString(r),
             comm_ ? cat(" (", ncclGetLastError(comm_), ")") : std::string());
}

std::unique_ptr<detail::Request> NcclBackend::enqueued(const std::string& what) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  DUET_CUDA_CHECK(cudaStreamIsCapturing(stream_, &status));
  cudaEvent_t event = nullptr;
  if (status == cudaStreamCaptureStatusNone) {
    DUET_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
    DUET_CUDA_CHECK(cudaEventRecord(event, stream_));
  }
  return std::make_unique<NcclRequest>(comm_, event, what);
}

std::unique_ptr<detail::Request> NcclBackend::start_all_reduce(void* buf, int64_t count,
                                                               DType dtype, ReduceOp op) {
  DUET_CHECK(comm_, "distributed: nccl: all_reduce after the communicator was aborted");
  const std::string what = cat("all_reduce (", dtype_name(dtype), ", ", count, " elements)");
  cuda_backend::context(device_);
  check_buffer(buf, what);
  check(ncclAllReduce(buf, buf, static_cast<size_t>(count), nccl_dtype(dtype), nccl_op(op, dtype),
                      comm_, stream_),
        what);
  return enqueued(what);
}

std::unique_ptr<detail::Request> NcclBackend::start_broadcast(void* buf, int64_t count, DType dtype,
                                                              int root) {
  DUET_CHECK(comm_, "distributed: nccl: broadcast after the communicator was aborted");
  DUET_CHECK(root >= 0 && root < world_size_, "distributed: nccl: broadcast from root ", root,
             "; expected a rank in 0..", world_size_ - 1);
  const std::string what = cat("broadcast (", dtype_name(dtype), ", ", count, " elements)");
  cuda_backend::context(device_);
  check_buffer(buf, what);
  check(
      ncclBroadcast(buf, buf, static_cast<size_t>(count), nccl_dtype(dtype), root, comm_, stream_),
      what);
  return enqueued(what);
}

std::unique_ptr<detail::Request> NcclBackend::start_all_gather(const void* send, void* recv,
                                                               int64_t count, DType dtype) {
  DUET_CHECK(comm_, "distributed: nccl: all_gather after the communicator was aborted");
  const std::string what = cat("all_gather (", dtype_name(dtype), ", ", count, " elements)");
  cuda_backend::context(device_);
  check_buffer(send, what);
  check_buffer(recv, what);
  check(ncclAllGather(send, recv, static_cast<size_t>(count), nccl_dtype(dtype), comm_, stream_),
        what);
  return enqueued(what);
}

std::unique_ptr<detail::Request> NcclBackend::start_reduce_scatter(const void* send, void* recv,
                                                                   int64_t count, DType dtype,
                                                                   ReduceOp op) {
  DUET_CHECK(comm_, "distributed: nccl: reduce_scatter after the communicator was aborted");
  const std::string what = cat("reduce_scatter (", dtype_name(dtype), ", ", count, " elements)");
  cuda_backend::context(device_);
  check_buffer(send, what);
  check_buffer(recv, what);
  check(ncclReduceScatter(send, recv, static_cast<size_t>(count), nccl_dtype(dtype),
                          nccl_op(op, dtype), comm_, stream_),
        what);
  return enqueued(what);
}

std::unique_ptr<detail::Request> NcclBackend::start_barrier() {
  DUET_CHECK(comm_, "distributed: nccl: barrier after the communicator was aborted");
  cuda_backend::context(device_);
  check(ncclAllReduce(barrier_buf_, barrier_buf_, 1, ncclFloat32, ncclSum, comm_, stream_),
        "barrier");
  return enqueued("barrier");
}

void NcclBackend::fork_all_reduce(int64_t tag, void* buf, int64_t count, DType dtype, ReduceOp op) {
  DUET_CHECK(comm_, "distributed: nccl: all_reduce_start after the communicator was aborted");
  const std::string what =
      cat("all_reduce_start (", dtype_name(dtype), ", ", count, " elements, tag ", tag, ")");
  cuda_backend::context(device_);
  check_buffer(buf, what);
  if (!comm_stream_) {
    check(ncclAllReduce(buf, buf, static_cast<size_t>(count), nccl_dtype(dtype), nccl_op(op, dtype),
                        comm_, stream_),
          what);
    return;
  }
  auto it = tag_events_.find(tag);
  if (it == tag_events_.end()) {
    // Created outside any capture the first time (graph mode's first run is uncaptured).
    cudaEvent_t fork = nullptr, join = nullptr;
    DUET_CUDA_CHECK(cudaEventCreateWithFlags(&fork, cudaEventDisableTiming));
    DUET_CUDA_CHECK(cudaEventCreateWithFlags(&join, cudaEventDisableTiming));
    it = tag_events_.emplace(tag, std::make_pair(fork, join)).first;
  }
  auto [fork, join] = it->second;
  DUET_CUDA_CHECK(cudaEventRecord(fork, stream_));
  DUET_CUDA_CHECK(cudaStreamWaitEvent(comm_stream_, fork, 0));
  check(ncclAllReduce(buf, buf, static_cast<size_t>(count), nccl_dtype(dtype), nccl_op(op, dtype),
                      comm_, comm_stream_),
        what);
  DUET_CUDA_CHECK(cudaEventRecord(join, comm_stream_));
}

void NcclBackend::join_all_reduce(int64_t tag) {
  if (!comm_stream_) return;
  auto it = tag_events_.find(tag);
  DUET_CHECK(it != tag_events_.end(), "all_reduce_wait: no all_reduce_start with tag ", tag,
             " ran on this rank's NCCL engine (expected its start first)");
  cuda_backend::context(device_);
  DUET_CUDA_CHECK(cudaStreamWaitEvent(stream_, it->second.second, 0));
}

NcclBackend& NcclBackend::of_current_group(const char* what) {
  detail::ProcessGroup* g = detail::ProcessGroup::current();
  DUET_CHECK(g, what,
             ": distributed is not initialized; call duet::distributed::init("
             "Backend::nccl) first");
  auto* nccl = dynamic_cast<NcclBackend*>(g->device_engine());
  DUET_CHECK(nccl, what, ": the tensor is on a CUDA device but the ", backend_name(g->backend()),
             " process group has no NCCL engine; init(Backend::nccl) for CUDA tensors");
  return *nccl;
}

}  // namespace duet::distributed::nccl_engine

extern "C" __attribute__((visibility("default"))) duet::distributed::detail::CommBackend*
duet_comm_backend_create(const duet::distributed::detail::CommInit& init) {
  DUET_CHECK(init.abi == duet::distributed::detail::kCommBackendAbi,
             "distributed: libduet_nccl.so speaks plugin ABI ",
             duet::distributed::detail::kCommBackendAbi, " but libduet asked for ", init.abi,
             "; rebuild the plugin with the same duet");
  return new duet::distributed::nccl_engine::NcclBackend(init);
}
