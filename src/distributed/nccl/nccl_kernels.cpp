// The CUDA kernels of all_reduce_start and all_reduce_wait (nccl_kernels.h).
#include "distributed/nccl/nccl_kernels.h"

#include <mutex>

#include "cuda/runtime.h"
#include "distributed/nccl/nccl_backend.h"
#include "distributed/process_group.h"
#include "ops/op_def.h"

namespace duet::distributed::nccl_engine {
namespace {

using ::duet::detail::cat;

ReduceOp reduce_op_of(const Attrs& attrs) {
  const std::string& s = attrs.s("op");
  if (s == "avg") return ReduceOp::avg;
  if (s == "min") return ReduceOp::min;
  if (s == "max") return ReduceOp::max;
  return ReduceOp::sum;  // infer already refused anything else
}

// bucket: any shape, contiguous, on the engine's device; output 0: the token, int64 (1).
void all_reduce_start_cuda(const KernelArgs& k) {
  NcclBackend& nccl = NcclBackend::of_current_group("all_reduce_start");
  const Tensor& bucket = k.inputs[0];
  DUET_CHECK(bucket.device().index == nccl.device_index(), "all_reduce_start: the bucket (",
             bucket.dtype(), ", ", bucket.numel(), " elements, tag ", k.attrs.i("tag"), ") is on ",
             bucket.device().str(), " but this rank's NCCL engine uses cuda:", nccl.device_index(),
             " (its local rank)");
  cudaStream_t stream = cuda_backend::stream_for(bucket);
  // On the engine's communication stream after the compute stream's work so far; the wait
  // kernel joins it back, so the kernels between the two run beside the all-reduce.
  const int64_t tag = k.attrs.i("tag");
  nccl.fork_all_reduce(tag, bucket.data_ptr(), bucket.numel(), bucket.dtype(),
                       reduce_op_of(k.attrs));
  write_token(static_cast<int64_t*>(k.outputs[0].data_ptr()), tag, stream);
}

// inputs: bucket, token; output 0: like bucket (often the bucket's own buffer).
void all_reduce_wait_cuda(const KernelArgs& k) {
  const Tensor& bucket = k.inputs[0];
  const Tensor& out = k.outputs[0];
  NcclBackend::of_current_group("all_reduce_wait").join_all_reduce(k.attrs.i("tag"));
  if (out.data_ptr() == bucket.data_ptr()) return;
  cudaStream_t stream = cuda_backend::stream_for(bucket);
  DUET_CUDA_CHECK(cudaMemcpyAsync(out.data_ptr(), bucket.data_ptr(),
                                  static_cast<size_t>(bucket.numel()) * dtype_size(bucket.dtype()),
                                  cudaMemcpyDeviceToDevice, stream));
}

// all_reduce_sum (src/ops/sync_ops.cpp: SyncBatchNorm2d's statistics), out of place: the
// input copied into the output, then summed in place there by NCCL, both on the compute
// stream. Without a group or in a world of one: the copy alone, as on the CPU.
void all_reduce_sum_cuda(const KernelArgs& k) {
  const Tensor& x = k.inputs[0];
  const Tensor& out = k.outputs[0];
  cudaStream_t stream = cuda_backend::stream_for(x);
  if (out.data_ptr() != x.data_ptr())
    DUET_CUDA_CHECK(cudaMemcpyAsync(out.data_ptr(), x.data_ptr(),
                                    static_cast<size_t>(x.numel()) * dtype_size(x.dtype()),
                                    cudaMemcpyDeviceToDevice, stream));
  detail::ProcessGroup* group = detail::ProcessGroup::current();
  if (!group || group->world_size() == 1 || x.numel() == 0) return;
  NcclBackend& nccl = NcclBackend::of_current_group("all_reduce_sum_autograd");
  nccl.start_all_reduce(out.data_ptr(), out.numel(), out.dtype(), ReduceOp::sum);
}

}  // namespace

void register_nccl_kernels() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_kernel(OpId::all_reduce_start, DeviceType::cuda, &all_reduce_start_cuda);
    register_kernel(OpId::all_reduce_wait, DeviceType::cuda, &all_reduce_wait_cuda);
    register_kernel(OpId::all_reduce_sum, DeviceType::cuda, &all_reduce_sum_cuda);
  });
}

}  // namespace duet::distributed::nccl_engine
