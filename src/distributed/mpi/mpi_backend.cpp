// The MPI engine plugin (libduet_mpi.so): duet's CommBackend (comm_backend.h) over MPI's
// non-blocking collectives (MPI_Iallreduce, MPI_Ibcast, MPI_Iallgather,
// MPI_Ireduce_scatter_block, MPI_Ibarrier), polled with MPI_Test. The process group calls it
// on its one communication thread only, so MPI is initialized with MPI_THREAD_FUNNELED there.
//
// Launch: mpirun (OpenMPI: OMPI_COMM_WORLD_*); without mpirun, MPI starts a singleton (a world
// of one process). MPI_Finalize runs in the destructor unless the group broke (abort()): a
// finalize would wait for a dead or hung peer.
// MPI's C API only: no deprecated C++ bindings (which also warn under clang).
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include <climits>
#include <cstdlib>
#include <string>

#include "distributed/comm_backend.h"
#include "duet/error.h"

namespace duet::distributed::detail {
namespace {

std::string mpi_error_string(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) return cat("MPI error ", code);
  return std::string(text, static_cast<size_t>(len));
}

void check_mpi(int code, const char* call) {
  if (code != MPI_SUCCESS)
    throw Error(cat("distributed (mpi): ", call, " failed: ", mpi_error_string(code)));
}

MPI_Datatype mpi_type(DType dtype) {
  switch (dtype) {
    case DType::float32:
      return MPI_FLOAT;
    case DType::float64:
      return MPI_DOUBLE;
    case DType::int64:
      return MPI_INT64_T;
    case DType::bool_:
      return MPI_C_BOOL;
    default:
      break;
  }
  throw Error(cat("distributed (mpi): dtype ", dtype_name(dtype),
                  " is not supported (float32, float64, int64, bool)"));
}

// bool: sum and max are logical or, min is logical and (MPI's MIN/MAX/SUM do not take
// MPI_C_BOOL).
MPI_Op mpi_op(ReduceOp op, DType dtype) {
  const bool logical = dtype == DType::bool_;
  switch (op) {
    case ReduceOp::sum:
      return logical ? MPI_LOR : MPI_SUM;
    case ReduceOp::min:
      return logical ? MPI_LAND : MPI_MIN;
    case ReduceOp::max:
      return logical ? MPI_LOR : MPI_MAX;
    case ReduceOp::avg:
      break;
  }
  throw Error("distributed (mpi): avg reaches the engine as sum (the process group divides)");
}

int mpi_count(int64_t count, const char* what) {
  if (count < 0 || count > INT_MAX)
    throw Error(cat("distributed (mpi): ", what, " of ", count,
                    " elements: MPI counts are limited to ", INT_MAX, " elements per call"));
  return static_cast<int>(count);
}

class MpiRequest final : public Request {
 public:
  explicit MpiRequest(const char* call) : call_(call) {}
  MPI_Request* handle() { return &req_; }
  bool test() override {
    if (done_) return true;
    int flag = 0;
    check_mpi(MPI_Test(&req_, &flag, MPI_STATUS_IGNORE), call_);
    done_ = flag != 0;
    return done_;
  }

 private:
  const char* call_;
  MPI_Request req_ = MPI_REQUEST_NULL;
  bool done_ = false;
};

class MpiBackend final : public CommBackend {
 public:
  explicit MpiBackend(const CommInit& init) {
    (void)init;
    int initialized = 0, finalized = 0;
    check_mpi(MPI_Initialized(&initialized), "MPI_Initialized");
    check_mpi(MPI_Finalized(&finalized), "MPI_Finalized");
    if (finalized)
      throw Error(
          "distributed (mpi): MPI was finalized by an earlier shutdown() and cannot start again "
          "in this process (MPI allows one MPI_Init per process): init the mpi engine once");
    if (initialized) {
      owns_mpi_ = false;  // the program initialized MPI itself: it finalizes it too
      int level = MPI_THREAD_SINGLE;
      check_mpi(MPI_Query_thread(&level), "MPI_Query_thread");
      if (level < MPI_THREAD_SERIALIZED)
        throw Error(
            "distributed (mpi): the program initialized MPI with a thread level below "
            "MPI_THREAD_SERIALIZED, but duet calls MPI from its communication thread: use "
            "MPI_Init_thread(..., MPI_THREAD_SERIALIZED or MPI_THREAD_MULTIPLE, ...) or let "
            "duet::distributed::init() initialize MPI");
    } else {
      int provided = 0;
      check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided),
                "MPI_Init_thread");
      owns_mpi_ = true;
    }
    check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
    // Errors come back as codes (check_mpi throws duet::Error) instead of aborting the job.
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    check_mpi(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    check_mpi(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
    if (const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK"); local && *local) {
      local_rank_ = std::atoi(local);
    } else {
      MPI_Comm node;
      check_mpi(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node),
                "MPI_Comm_split_type");
      check_mpi(MPI_Comm_rank(node, &local_rank_), "MPI_Comm_rank");
      MPI_Comm_free(&node);
    }
  }

  ~MpiBackend() override {
    if (aborted_) return;  // a broken group: finalizing would wait for the peers
    MPI_Comm_free(&comm_);
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owns_mpi_ && !finalized) MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int world_size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  const char* name() const override { return "mpi"; }

  std::unique_ptr<Request> start_all_reduce(void* buf, int64_t count, DType dtype,
                                            ReduceOp op) override {
    auto r = std::make_unique<MpiRequest>("MPI_Iallreduce");
    check_mpi(MPI_Iallreduce(MPI_IN_PLACE, buf, mpi_count(count, "all_reduce"), mpi_type(dtype),
                             mpi_op(op, dtype), comm_, r->handle()),
              "MPI_Iallreduce");
    return r;
  }

  std::unique_ptr<Request> start_broadcast(void* buf, int64_t count, DType dtype,
                                           int root) override {
    auto r = std::make_unique<MpiRequest>("MPI_Ibcast");
    check_mpi(
        MPI_Ibcast(buf, mpi_count(count, "broadcast"), mpi_type(dtype), root, comm_, r->handle()),
        "MPI_Ibcast");
    return r;
  }

  std::unique_ptr<Request> start_all_gather(const void* send, void* recv, int64_t count,
                                            DType dtype) override {
    auto r = std::make_unique<MpiRequest>("MPI_Iallgather");
    const int n = mpi_count(count, "all_gather");
    mpi_count(count * size_, "all_gather");
    check_mpi(
        MPI_Iallgather(send, n, mpi_type(dtype), recv, n, mpi_type(dtype), comm_, r->handle()),
        "MPI_Iallgather");
    return r;
  }

  std::unique_ptr<Request> start_reduce_scatter(const void* send, void* recv, int64_t count,
                                                DType dtype, ReduceOp op) override {
    auto r = std::make_unique<MpiRequest>("MPI_Ireduce_scatter_block");
    mpi_count(count * size_, "reduce_scatter");
    check_mpi(MPI_Ireduce_scatter_block(send, recv, mpi_count(count, "reduce_scatter"),
                                        mpi_type(dtype), mpi_op(op, dtype), comm_, r->handle()),
              "MPI_Ireduce_scatter_block");
    return r;
  }

  std::unique_ptr<Request> start_barrier() override {
    auto r = std::make_unique<MpiRequest>("MPI_Ibarrier");
    check_mpi(MPI_Ibarrier(comm_, r->handle()), "MPI_Ibarrier");
    return r;
  }

  void abort(const std::string& /*why*/) noexcept override { aborted_ = true; }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1, local_rank_ = 0;
  bool owns_mpi_ = false;
  bool aborted_ = false;
};

}  // namespace
}  // namespace duet::distributed::detail

extern "C" __attribute__((visibility("default"))) duet::distributed::detail::CommBackend*
duet_comm_backend_create(const duet::distributed::detail::CommInit& init) {
  using duet::distributed::detail::kCommBackendAbi;
  if (init.abi != kCommBackendAbi)
    throw duet::Error(duet::detail::cat("distributed: libduet_mpi.so was built for engine ABI ",
                                        kCommBackendAbi, " but this libduet uses ABI ", init.abi,
                                        "; use the plugin built with this libduet"));
  return new duet::distributed::detail::MpiBackend(init);
}
