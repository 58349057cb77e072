// all_reduce_sum: a differentiable, blocking all-reduce (sum) over the process group, out of
// place: every rank's output is the sum of every rank's input, and the gradient of the input
// is the all-reduce (sum) of the output's gradients, since the input reaches every rank's
// output. SyncBatchNorm2d (src/nn/sync_batch_norm.cpp) reduces its batch statistics with it.
//
//   Tensor total = duet::distributed::all_reduce_sum_autograd(local_sums);   // (C)
//
// Without a process group, or in a world of one, it is the identity (so the op-table test
// checks it like any op). The CUDA kernel comes with the NCCL plugin. OpTrait::collective: in a
// graph no pass folds, merges, hoists or drops it (a compile never communicates; every rank must
// run it).
#include <cstring>

#include "distributed/process_group.h"
#include "duet/distributed.h"
#include "ops/op_def.h"
#include "ops/op_samples.h"

namespace duet {
namespace {

std::vector<TensorMeta> all_reduce_sum_infer(const InferArgs& a) {
  infer::expect_floating(a, 0);
  return {a.inputs[0]};
}

std::vector<Tensor> all_reduce_sum_grad(const GradArgs& g) {
  return {distributed::all_reduce_sum_autograd(g.grad_outputs[0])};
}

void all_reduce_sum_cpu(const KernelArgs& k) {
  const Tensor& x = k.inputs[0];
  Tensor& out = k.outputs[0];
  std::memcpy(out.data_ptr(), x.data_ptr(), static_cast<size_t>(x.numel()) * dtype_size(x.dtype()));
  auto* group = distributed::detail::ProcessGroup::current();
  if (!group || group->world_size() == 1 || x.numel() == 0) return;
  group
      ->all_reduce(out.data_ptr(), out.numel(), out.dtype(), distributed::ReduceOp::sum,
                   detail::cat("all_reduce_sum_autograd (", dtype_name(x.dtype()), ", ", x.numel(),
                               " elements)"))
      ->wait();
}

std::vector<OpSample> all_reduce_sum_samples() {
  using namespace samples;
  // The CUDA kernel exists only once the NCCL plugin is loaded (init(Backend::nccl)), which
  // the op-table test process never does.
  const auto no_cuda = static_cast<uint32_t>(SampleCheck::no_cuda);
  return {{.inputs = {normal({7})}, .skip = no_cuda, .note = "CUDA kernel: the NCCL plugin"},
          {.inputs = {normal({2, 3})}, .skip = no_cuda, .note = "CUDA kernel: the NCCL plugin"}};
}

}  // namespace

DUET_DEFINE_OP(all_reduce_sum_op, {.id = OpId::all_reduce_sum,
                                   .traits = static_cast<uint32_t>(OpTrait::collective),
                                   .infer = all_reduce_sum_infer,
                                   .grad = all_reduce_sum_grad,
                                   .kernels = {all_reduce_sum_cpu},
                                   .samples = all_reduce_sum_samples,
                                   .low_precision = false})

namespace distributed {

Tensor all_reduce_sum_autograd(const Tensor& x) {
  return call_op(all_reduce_sum_op(), {x})[0];
}

}  // namespace distributed
}  // namespace duet
