// Multi-tensor SGD and Adam updates (src/ops/multi_tensor_ops.h): ops whose inputs are the
// learning rate followed by one group of tensors per parameter. Each group is checked by the
// per-parameter op's infer function; the CPU kernel runs the per-parameter CPU kernel on each
// group, the CUDA kernel (kernels/cuda/optim_kernels.cu) one launch for all of them.
#include "ops/multi_tensor_ops.h"

#include <initializer_list>

#include "optim_kernels.h"
#include "duet/autograd.h"
#include "ops/op_samples.h"

namespace duet {
namespace {

constexpr int kSgdStride = 3;          // param, grad, step
constexpr int kSgdMomentumStride = 4;  // param, grad, step, momentum_buf
constexpr int kAdamStride = 5;         // param, grad, exp_avg, exp_avg_sq, step

// Groups per call: input 0 (lr) plus the groups must fit the 32-bit input masks.
constexpr int max_groups(int stride) {
  return (32 - 1) / stride;
}

// Bits of the inputs at `offsets` within every group (input 1 + g * stride + offset).
constexpr uint32_t group_mask(int stride, std::initializer_list<int> offsets) {
  uint32_t m = 0;
  for (int g = 0; g < max_groups(stride); ++g)
    for (int o : offsets) m |= 1u << (1 + g * stride + o);
  return m;
}

// The number of groups, after checking the input count, the group limit and that every
// parameter has the dtype of the first (one kernel instantiation per call).
size_t group_count(const InferArgs& a, int stride, const char* layout) {
  // The loss-scaling gate (duet/amp.h) is on the per-parameter ops only: a gated optimizer
  // step uses them (SGD, Adam).
  DUET_CHECK(!a.attrs.b("gated", false), a.op,
             ": gated = true is not supported (expected the per-parameter ops for a gated update)");
  const size_t n = a.inputs.size();
  DUET_CHECK(n >= 1 + static_cast<size_t>(stride) && (n - 1) % stride == 0, a.op, ": got ", n,
             " inputs (expected lr, then one group (", layout, ") per parameter)");
  const size_t groups = (n - 1) / stride;
  DUET_CHECK(groups <= static_cast<size_t>(max_groups(stride)), a.op, ": got ", groups,
             " parameters (expected at most ", max_groups(stride), " per call)");
  for (size_t g = 0; g < groups; ++g) {
    const TensorMeta& p = a.inputs[1 + g * stride];
    DUET_CHECK(p.dtype == a.inputs[1].dtype, a.op, ": parameter ", g, " has dtype ", p.dtype,
               " but parameter 0 has dtype ", a.inputs[1].dtype, " (expected one dtype per call)");
  }
  return groups;
}

template <int kStride>
std::vector<TensorMeta> sgd_multi_infer(const InferArgs& a) {
  DUET_CHECK(a.attrs.b("buffers") == (kStride == kSgdMomentumStride), a.op,
             ": attribute buffers = ", a.attrs.b("buffers"), " does not match the op");
  const size_t groups = group_count(
      a, kStride, kStride == kSgdStride ? "param, grad, step" : "param, grad, step, momentum_buf");
  for (size_t g = 0; g < groups; ++g) {
    const size_t b = 1 + g * kStride;
    std::vector<TensorMeta> m{a.inputs[b], a.inputs[b + 1], a.inputs[0], a.inputs[b + 2]};
    if (kStride == kSgdMomentumStride) m.push_back(a.inputs[b + 3]);
    sgd_step_def().infer({a.op, m, a.attrs});
  }
  return {};
}

std::vector<TensorMeta> adam_multi_infer(const InferArgs& a) {
  const size_t groups = group_count(a, kAdamStride, "param, grad, exp_avg, exp_avg_sq, step");
  for (size_t g = 0; g < groups; ++g) {
    const size_t b = 1 + g * kAdamStride;
    std::vector<TensorMeta> m{a.inputs[b],     a.inputs[b + 1], a.inputs[b + 2],
                              a.inputs[b + 3], a.inputs[0],     a.inputs[b + 4]};
    adam_step_def().infer({a.op, m, a.attrs});
  }
  return {};
}

// CPU: the per-parameter kernels, group by group.
void sgd_multi_cpu(const KernelArgs& k) {
  const size_t stride = k.attrs.b("buffers") ? kSgdMomentumStride : kSgdStride;
  for (size_t b = 1; b + stride <= k.inputs.size(); b += stride) {
    std::vector<Tensor> in{k.inputs[b], k.inputs[b + 1], k.inputs[0], k.inputs[b + 2]};
    if (stride == kSgdMomentumStride) in.push_back(k.inputs[b + 3]);
    cpu_kernels::sgd_step({k.attrs, in, {}});
  }
}

void adam_multi_cpu(const KernelArgs& k) {
  for (size_t b = 1; b + kAdamStride <= k.inputs.size(); b += kAdamStride) {
    const std::vector<Tensor> in{k.inputs[b],     k.inputs[b + 1], k.inputs[b + 2],
                                 k.inputs[b + 3], k.inputs[0],     k.inputs[b + 4]};
    cpu_kernels::adam_step({k.attrs, in, {}});
  }
}

// True when p's data is that of a parameter already in `group`: such a parameter starts a new
// call, so one call never updates a tensor twice (the per-parameter ops would, in order).
bool shares_data(const std::vector<Tensor>& group, const Tensor& p) {
  for (const Tensor& q : group)
    if (q.data_ptr() == p.data_ptr()) return true;
  return false;
}

// Splits parameters [0, n) into calls of at most `limit` with one dtype and device each, and
// calls emit(first, last) for each run [first, last).
template <class Emit>
void in_calls(const std::vector<Tensor>& params, int limit, Emit emit) {
  size_t i = 0;
  while (i < params.size()) {
    std::vector<Tensor> group{params[i]};
    size_t j = i + 1;
    while (j < params.size() && j - i < static_cast<size_t>(limit) &&
           params[j].dtype() == params[i].dtype() && params[j].device() == params[i].device() &&
           !shares_data(group, params[j]))
      group.push_back(params[j++]);
    emit(i, j);
    i = j;
  }
}

// ---- test samples (src/ops/op_samples.h, tests/ops_table/) --------------------------------------

// lr, then one group per parameter; two parameters of different shapes.
std::vector<OpSample> sgd_multi_samples(bool buffers) {
  using namespace samples;
  OpSample s{.inputs = {lr()},
             .attrs = sgd_step_attrs({.momentum = buffers ? 0.9 : 0.0, .weight_decay = 0.01})
                          .set("buffers", buffers)};
  for (const Shape& p : {Shape{5}, Shape{2, 3}}) {
    s.inputs.insert(s.inputs.end(), {normal(p), normal(p), step()});
    if (buffers) s.inputs.push_back(normal(p));
  }
  return {s};
}
std::vector<OpSample> adam_multi_samples() {
  using namespace samples;
  OpSample s{.inputs = {lr()}, .attrs = adam_step_attrs({.weight_decay = 0.01})};
  for (const Shape& p : {Shape{5}, Shape{2, 3}})
    s.inputs.insert(s.inputs.end(), {normal(p), normal(p), normal(p), positive(p), step()});
  return {s};
}

}  // namespace

DUET_DEFINE_OP(sgd_step_multi_def, {.id = OpId::sgd_step_multi_,
                                    .num_inputs = -1,
                                    .num_outputs = 0,
                                    .traits = static_cast<uint32_t>(OpTrait::optimizer_update),
                                    .infer = sgd_multi_infer<kSgdStride>,
                                    .mutates_inputs = group_mask(kSgdStride, {0, 2}),
                                    .nondiff_inputs = 0xffffffffu,
                                    .kernels = {sgd_multi_cpu},
                                    .samples = [] { return sgd_multi_samples(false); },
                                    .low_precision = false})
DUET_DEFINE_OP(sgd_momentum_step_multi_def,
               {.id = OpId::sgd_momentum_step_multi_,
                .num_inputs = -1,
                .num_outputs = 0,
                .traits = static_cast<uint32_t>(OpTrait::optimizer_update),
                .infer = sgd_multi_infer<kSgdMomentumStride>,
                .mutates_inputs = group_mask(kSgdMomentumStride, {0, 2, 3}),
                .nondiff_inputs = 0xffffffffu,
                .kernels = {sgd_multi_cpu},
                .samples = [] { return sgd_multi_samples(true); },
                .low_precision = false})
DUET_DEFINE_OP(adam_step_multi_def,
               {.id = OpId::adam_step_multi_,
                .num_inputs = -1,
                .num_outputs = 0,
                .traits = static_cast<uint32_t>(OpTrait::optimizer_update),
                .infer = adam_multi_infer,
                .mutates_inputs = group_mask(kAdamStride, {0, 2, 3, 4}),
                .nondiff_inputs = 0xffffffffu,
                .kernels = {adam_multi_cpu},
                .samples = adam_multi_samples,
                .low_precision = false})

namespace optim {

bool multi_tensor_eligible(const std::vector<Tensor>& params, const std::vector<Tensor>& grads) {
  if (recording_active() || params.empty()) return false;
  for (const Tensor& p : params)
    if (!p.defined() || p.is_symbolic() || p.device().type != DeviceType::cuda) return false;
  for (const Tensor& g : grads)
    if (g.defined() && g.is_symbolic()) return false;
  return true;
}

void sgd_step_multi_(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                     const std::vector<Tensor>& bufs, const std::vector<Tensor>& steps,
                     const Tensor& lr, const SgdUpdate& u) {
  const size_t n = params.size();
  const bool buffers = !bufs.empty();
  DUET_CHECK(grads.size() == n && steps.size() == n && (!buffers || bufs.size() == n),
             "sgd_step_multi_: got ", n, " params, ", grads.size(), " grads, ", bufs.size(),
             " momentum buffers and ", steps.size(),
             " steps (expected one of each per parameter; no buffers without momentum)");
  DUET_CHECK(u.momentum == 0.0 || buffers, "sgd_step_multi_: momentum = ", u.momentum,
             " needs momentum buffers (got none)");
  Attrs attrs = sgd_step_attrs(u);
  attrs.set("buffers", buffers);
  const OpDef& op = buffers ? sgd_momentum_step_multi_def() : sgd_step_multi_def();
  const int stride = buffers ? kSgdMomentumStride : kSgdStride;
  NoGradGuard no_grad;
  in_calls(params, max_groups(stride), [&](size_t first, size_t last) {
    std::vector<Tensor> in{lr};
    for (size_t i = first; i < last; ++i) {
      in.insert(in.end(), {params[i], grads[i], steps[i]});
      if (buffers) in.push_back(bufs[i]);
    }
    call_op(op, std::move(in), attrs);
  });
}

void adam_step_multi_(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                      const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs,
                      const std::vector<Tensor>& steps, const Tensor& lr, const AdamUpdate& u) {
  const size_t n = params.size();
  DUET_CHECK(
      grads.size() == n && exp_avgs.size() == n && exp_avg_sqs.size() == n && steps.size() == n,
      "adam_step_multi_: got ", n, " params, ", grads.size(), " grads, ", exp_avgs.size(),
      " exp_avg, ", exp_avg_sqs.size(), " exp_avg_sq and ", steps.size(),
      " steps (expected one of each per parameter)");
  const Attrs attrs = adam_step_attrs(u);
  NoGradGuard no_grad;
  in_calls(params, max_groups(kAdamStride), [&](size_t first, size_t last) {
    std::vector<Tensor> in{lr};
    for (size_t i = first; i < last; ++i)
      in.insert(in.end(), {params[i], grads[i], exp_avgs[i], exp_avg_sqs[i], steps[i]});
    call_op(adam_step_multi_def(), std::move(in), attrs);
  });
}

}  // namespace optim
}  // namespace duet
