// write_token (nccl_kernels.h): the all_reduce_start token, written on the stream.
#include "cuda/runtime.h"
#include "distributed/nccl/nccl_kernels.h"

namespace duet::distributed::nccl_engine {
namespace {
__global__ void write_token_kernel(int64_t* token, int64_t value) {
  *token = value;
}
}  // namespace

void write_token(int64_t* token, int64_t value, cudaStream_t stream) {
  write_token_kernel<<<1, 1, 0, stream>>>(token, value);
  DUET_CUDA_CHECK_LAUNCH();
}

}  // namespace duet::distributed::nccl_engine
