// linear_grad_adam_step_: the weight gradient of a linear layer fused with its Adam update.
#include "ops/fused_update_ops.h"

#include "optim_kernels.h"
#include "ops/multi_tensor_ops.h"
#include "ops/op_samples.h"

namespace duet {
namespace {

std::vector<TensorMeta> linear_grad_adam_infer(const InferArgs& a) {
  // gated (loss scaling): found_inf (float32 ()) last, as adam_step_
  const bool gated = a.attrs.b("gated", false);
  DUET_CHECK(a.inputs.size() == (gated ? 8u : 7u), a.op, ": got ", a.inputs.size(),
             " inputs (expected grad_out, x, W, exp_avg, exp_avg_sq, lr, step",
             gated ? ", found_inf)" : ")");
  if (gated)
    DUET_CHECK(a.inputs[7].dtype == DType::float32 && a.inputs[7].shape.empty(), a.op,
               ": found_inf has shape ", shape_str(a.inputs[7].shape), " ", a.inputs[7].dtype,
               " (expected a float32 scalar of shape ())");
  const Shape& g = a.inputs[0].shape;
  const Shape& x = a.inputs[1].shape;
  const Shape& w = a.inputs[2].shape;
  DUET_CHECK(g.size() == 2 && x.size() == 2 && w.size() == 2 && g[0] == x[0] && w[0] == g[1] &&
                 w[1] == x[1],
             a.op, ": grad_out ", shape_str(g), ", x ", shape_str(x), ", W ", shape_str(w),
             " (expected (rows, out), (rows, in) and (out, in))");
  for (int i = 1; i < 5; ++i) infer::expect_same_dtype(a, 0, i);
  for (int i = 3; i < 5; ++i)
    DUET_CHECK(a.inputs[i].shape == w, a.op, ": optimizer state ", i, " has shape ",
               shape_str(a.inputs[i].shape), " (expected ", shape_str(w), ")");
  DUET_CHECK(a.inputs[5].dtype == DType::float64 && a.inputs[5].shape.empty() &&
                 a.inputs[6].dtype == DType::int64 && a.inputs[6].shape.empty(),
             a.op, ": lr and step must be a float64 and an int64 scalar");
  return {};
}

// CPU: one block of dW rows per thread (CUDA's query: src/cuda/kernel_registry.cpp).
size_t linear_grad_adam_workspace(std::span<const TensorMeta> in, std::span<const TensorMeta>,
                                  const Attrs&) {
  return cpu_kernels::linear_grad_adam_workspace_bytes(in[0].shape[0], in[2].shape[0],
                                                       in[2].shape[1], dtype_size(in[2].dtype));
}

// ---- test samples (src/ops/op_samples.h, tests/ops_table/) --------------------------------------

// (grad_out (rows, out), x (rows, in), W (out, in), exp_avg, exp_avg_sq, lr, step).
std::vector<OpSample> linear_grad_adam_samples() {
  using namespace samples;
  return {{.inputs = {normal({3, 5}), normal({3, 4}), normal({5, 4}), normal({5, 4}),
                      positive({5, 4}), lr(), step()},
           .attrs = adam_step_attrs({.weight_decay = 0.01})},
          {.inputs = {normal({6, 2}), normal({6, 3}), normal({2, 3}), normal({2, 3}),
                      positive({2, 3}), lr(), step()},
           .attrs = adam_step_attrs({.weight_decay = 0.01, .decoupled = true})},
          {.inputs = {normal({3, 5}), normal({3, 4}), normal({5, 4}), normal({5, 4}),
                      positive({5, 4}), lr(), step(), found_inf(0)},
           .attrs = adam_step_attrs({}).set("gated", true)},
          {.inputs = {normal({3, 5}), normal({3, 4}), normal({5, 4}), normal({5, 4}),
                      positive({5, 4}), lr(), step(), found_inf(1)},
           .attrs = adam_step_attrs({}).set("gated", true)}};
}

}  // namespace

DUET_DEFINE_OP(linear_grad_adam_step_def, {.id = OpId::linear_grad_adam_step_,
                                           .num_inputs = -1,
                                           .num_outputs = 0,
                                           .traits = OpTrait::fused | OpTrait::optimizer_update,
                                           .infer = linear_grad_adam_infer,
                                           .mutates_inputs = 0b1011100,
                                           .kernels = {cpu_kernels::linear_grad_adam_step},
                                           .workspace = {linear_grad_adam_workspace},
                                           .samples = linear_grad_adam_samples,
                                           .low_precision = false})

}  // namespace duet
