// Data-parallel training across processes: one process group per process, collectives on
// tensors, run by existing collective engines (docs/distributed.md).
//
//   // mpirun --allow-run-as-root --oversubscribe -np 2 ./my_trainer
//   duet::distributed::init();                         // backend from the environment (MPI here)
//   int r = duet::distributed::rank(), n = duet::distributed::world_size();
//   duet::Tensor t = duet::Tensor::full({4}, double(r + 1));
//   duet::distributed::all_reduce(t);                  // in place: every rank holds 1 + 2 + ...
//   duet::distributed::broadcast(t, /*root=*/0);
//   duet::Tensor all = duet::distributed::all_gather(t);     // (n * 4): rank 0's, then rank 1's
//   duet::distributed::barrier();
//   // at exit (or duet::distributed::shutdown()) the engine is finalized
//
// Engines: MPI (OpenMPI) and Gloo for CPU tensors, NCCL for CUDA tensors. Each engine lives in
// its own plugin library (libduet_mpi.so, libduet_gloo.so, libduet_nccl.so), loaded at run
// time by init(), found like the CUDA backend (next to libduet.so, $DUET_BACKEND_PATH); a
// missing plugin or engine is a duet::Error that says which and how to get it.
//
// Every collective runs on the process group's communication thread, in the order the calls
// were made (all ranks must make the same calls in the same order, as in MPI). The blocking
// forms wait for the result; the *_async forms return a Work to wait on later. A collective
// that does not complete within InitOptions::timeout (a peer died, hung, or called something
// else) throws duet::Error naming the collective, the rank and the timeout; the group is then
// broken and every later call throws too.
//
// Before a user-level collective runs, the ranks compare (collective, dtype, shape) and a
// mismatch is a duet::Error naming both ranks' shapes (InitOptions::check_shapes; the
// gradient buckets of DistributedDataParallel check their layout once, at construction).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "duet/tensor.h"

namespace duet::distributed {

enum class Backend {
  automatic,  // mpi when launched by mpirun (OMPI_COMM_WORLD_SIZE / PMI_SIZE set), else gloo
              // when RANK/WORLD_SIZE are set, else mpi (a single-process world)
  mpi,        // OpenMPI: CPU tensors (launch: mpirun)
  gloo,       // Gloo over TCP: CPU tensors (launch: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)
  nccl,       // NCCL: CUDA tensors; bootstraps over MPI or the Gloo store; CPU tensors go to
              // that bootstrap engine
};
const char* backend_name(Backend b);

enum class ReduceOp { sum, avg, min, max };  // bool: sum = logical or; avg: floating only
const char* reduce_op_name(ReduceOp op);

struct InitOptions {
  Backend backend = Backend::automatic;
  // A collective that has not completed after this long throws (and breaks the group).
  // $DUET_DIST_TIMEOUT (seconds) overrides the default.
  std::chrono::milliseconds timeout = std::chrono::minutes(5);
  // Compare (collective, dtype, shape) across ranks before each user-level collective.
  bool check_shapes = true;
};

// Starts the process group (once per process; a second init is an error unless shutdown()
// came first). Throws duet::Error when the plugin or engine is missing or the environment is
// incomplete (names the variables it read).
void init(const InitOptions& options = {});
void init(Backend backend);
bool is_initialized();
// Finalizes the engine (also done at exit). Pending collectives are waited for first.
void shutdown();

int rank();        // 0 .. world_size() - 1; 0 when not initialized
int world_size();  // 1 when not initialized
int local_rank();  // rank among the processes on this host (picks the CUDA device)
Backend backend();  // the engine init() chose (throws when not initialized)
bool is_main_process();  // rank() == 0 (true when not initialized)

// An asynchronous collective. wait() blocks until it completed (or throws its error, or the
// timeout's); the tensors it was given must stay alive and unchanged until then.
class Work {
 public:
  virtual ~Work() = default;
  virtual bool completed() const = 0;
  virtual void wait() = 0;
};

// In place: every rank ends with op over all ranks' t. t contiguous.
void all_reduce(Tensor& t, ReduceOp op = ReduceOp::sum);
std::shared_ptr<Work> all_reduce_async(Tensor& t, ReduceOp op = ReduceOp::sum);
// In place: every rank ends with root's t.
void broadcast(Tensor& t, int root = 0);
// Rank r's t becomes rows [r * t.shape(0), (r + 1) * t.shape(0)) of the result
// (shape: (world_size * d0, d1, ...); a 0-d t gives (world_size)).
Tensor all_gather(const Tensor& t);
// Reduces t over the ranks and gives rank r its slice r of dim 0 (t.shape(0) divisible by
// world_size; result (d0 / world_size, d1, ...)).
Tensor reduce_scatter(const Tensor& t, ReduceOp op = ReduceOp::sum);
void barrier();

// Differentiable all-reduce (sum), out of place and blocking: every rank gets the sum of all
// ranks' x, and x's gradient is the sum of all ranks' gradients of the result (what
// SyncBatchNorm2d's statistics need). The identity in a world of one or before init().
Tensor all_reduce_sum_autograd(const Tensor& x);

}  // namespace duet::distributed
