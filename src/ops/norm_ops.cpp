// Batch normalisation: batch_norm_train, batch_norm_backward, channel_affine,
// running_stat_update_, and the public batch_norm that composes them.
//
// Training:  y, mean, invstd, var = batch_norm_train(x, w, b)   (biased var, as PyTorch)
//            its gradient is the batch_norm_backward op (one fused kernel).
//            Gradients that reach the mean / invstd / var outputs are ignored (they are
//            statistics for the running update, not part of the differentiable result).
//            batch_norm_backward itself has no gradient rule (grad = nullptr): double
//            backward through training-mode batch norm is not supported.
// Running stats: running_stat_update_ (in place, no gradient), called by batch_norm under
//            NoGradGuard with the batch mean, and with the biased variance times the
//            correction n / (n - 1) (n = N * H * W), i.e. the unbiased variance. The variance
//            comes straight from the kernel (a 4th output), not from invstd, so no precision
//            is lost when var << eps.
// Inference: scale = w * rsqrt(running_var + eps), shift = b - running_mean * scale on (C)
//            vectors, then y = channel_affine(x, scale, shift), a one-pass kernel. Gradients
//            for x, w, b (and the running stats) come from the ops.
#include <algorithm>

#include "norm_kernels.h"
#include "duet/autograd.h"
#include "duet/ops/elementwise.h"
#include "duet/ops/norm.h"
#include "duet/ops/shape.h"
#include "ops/op_def.h"
#include "ops/op_samples.h"

namespace duet {
namespace {

// x: (N, C, ...) with rank >= 2; returns C.
int64_t channels(const char* op, const Shape& x) {
  DUET_CHECK(x.size() >= 2, op, ": x has shape ", shape_str(x), " (rank ", x.size(),
             "); expected (N, C, ...) with rank >= 2");
  return x[1];
}

// Whether a (C) parameter or statistic of dtype `p` goes with an activation of dtype `x`: the
// same dtype, or float32 with a bfloat16 / float16 activation (autocast keeps batch-norm
// statistics and affine parameters in float32: docs/mixed_precision.md).
bool param_dtype_ok(DType x, DType p) {
  return p == x || (is_low_precision(x) && p == DType::float32);
}

// Input i (a (C) vector) against the activation input `xi`.
void expect_param_dtype(const InferArgs& a, int xi, int i) {
  DUET_CHECK(param_dtype_ok(a.inputs[xi].dtype, a.inputs[i].dtype), a.op, ": input ", i,
             " has dtype ", a.inputs[i].dtype, " but input ", xi, " has dtype ", a.inputs[xi].dtype,
             " (expected the same dtype, or float32 with a bfloat16 or float16 input ", xi, ")");
}

void expect_channel_vector(const InferArgs& a, int i, const char* what, int64_t c) {
  DUET_CHECK(a.inputs[i].shape == Shape{c}, a.op, ": ", what, " has shape ",
             shape_str(a.inputs[i].shape), " but x ", shape_str(a.inputs[0].shape), " has ", c,
             " channels (expected ", shape_str({c}), ")");
  expect_param_dtype(a, 0, i);
}

// Shape (1, C, 1, ...) that broadcasts a (C) vector against x.
Shape channel_bshape(const Shape& x) {
  Shape s(x.size(), 1);
  s[1] = x[1];
  return s;
}

// ---------------------------------------------------------------------------------------
// batch_norm_train: x (N, C, ...), weight (C), bias (C) -> y, mean (C), invstd (C), var (C)

std::vector<TensorMeta> batch_norm_train_infer(const InferArgs& a) {
  infer::expect_floating(a, 0);
  const int64_t c = channels(a.op, a.inputs[0].shape);
  expect_channel_vector(a, 1, "weight", c);
  expect_channel_vector(a, 2, "bias", c);
  DUET_CHECK(a.attrs.f("eps") > 0, a.op, ": eps = ", a.attrs.f("eps"), " (expected > 0)");
  infer::expect_same_dtype(a, 1, 2);  // weight and bias: one dtype
  // The statistics in the parameters' dtype (float32 beside a low-precision x).
  const TensorMeta stat{{c}, a.inputs[1].dtype, a.inputs[0].device};
  return {a.inputs[0], stat, stat, stat};
}

// Only grad_outputs[0] (y) is used; see the file comment.
std::vector<Tensor> batch_norm_train_grad(const GradArgs& g) {
  if (!g.grad_outputs[0].defined()) return {Tensor(), Tensor(), Tensor()};
  std::vector<Tensor> r =
      batch_norm_backward(g.grad_outputs[0], g.inputs[0], g.inputs[1], g.outputs[1], g.outputs[2]);
  for (int i = 0; i < 3; ++i)
    if (!g.needs_input_grad[i]) r[i] = Tensor();
  return r;
}

// ---- test samples (src/ops/op_samples.h, tests/ops_table/) --------------------------------------

// x (N, C, ...), weight (C), bias (C); the gradient rule takes output 0 only (the batch
// statistics are not differentiated).
std::vector<OpSample> batch_norm_train_samples() {
  using namespace samples;
  const Attrs eps = Attrs().set("eps", 1e-5);
  return {
      {.inputs = {normal({3, 2, 2, 3}), normal({2}), normal({2})}, .attrs = eps, .diff_outputs = 1},
      {.inputs = {normal({5, 3}), normal({3}), normal({3})}, .attrs = eps, .diff_outputs = 1},
      {.inputs = {normal({2, 4, 5}), positive({4}), normal({4})},
       .attrs = Attrs().set("eps", 0.1),
       .diff_outputs = 1}};
}
// (grad_y, x, weight, mean, invstd).
std::vector<OpSample> batch_norm_backward_samples() {
  using namespace samples;
  return {{.inputs = {normal({3, 2, 2, 3}), normal({3, 2, 2, 3}), normal({2}), normal({2}),
                      positive({2})}},
          {.inputs = {normal({5, 3}), normal({5, 3}), normal({3}), normal({3}), positive({3})}}};
}
// x (N, C, ...), scale (C), shift (C).
std::vector<OpSample> channel_affine_samples() {
  using namespace samples;
  return {{.inputs = {normal({2, 3, 4, 5}), normal({3}), normal({3})}},
          {.inputs = {normal({4, 3}), normal({3}), normal({3})}},
          {.inputs = {normal({0, 3, 2}), normal({3}), normal({3})}}};
}
// (running, stat): running is written in place.
std::vector<OpSample> running_stat_update_samples() {
  using namespace samples;
  return {{.inputs = {normal({5}), normal({5})},
           .attrs = Attrs().set("momentum", 0.1).set("correction", 1.0)},
          {.inputs = {positive({3}), positive({3})},
           .attrs = Attrs().set("momentum", 0.3).set("correction", 1.25)}};
}

}  // namespace

DUET_DEFINE_OP(batch_norm_train_op,
               {.id = OpId::batch_norm_train,
                .num_inputs = 3,
                .num_outputs = 4,
                .infer = batch_norm_train_infer,
                .grad = batch_norm_train_grad,
                .save_inputs = 0b011,
                .save_outputs = 0b0110,
                .kernels = {cpu_kernels::batch_norm_train},
                .samples = batch_norm_train_samples})

namespace {

// ---------------------------------------------------------------------------------------
// batch_norm_backward: grad_y, x, weight, mean, invstd -> grad_x, grad_weight, grad_bias.
// Not differentiable (grad = nullptr): no double backward through training batch norm.

std::vector<TensorMeta> batch_norm_backward_infer(const InferArgs& a) {
  infer::expect_floating(a, 1);
  const Shape& x = a.inputs[1].shape;
  const int64_t c = channels(a.op, x);
  DUET_CHECK(a.inputs[0].shape == x, a.op, ": grad_y has shape ", shape_str(a.inputs[0].shape),
             " but x has shape ", shape_str(x), " (expected equal)");
  infer::expect_same_dtype(a, 1, 0);
  const char* names[] = {"weight", "mean", "invstd"};
  for (int i = 2; i < 5; ++i) {
    DUET_CHECK(a.inputs[i].shape == Shape{c}, a.op, ": ", names[i - 2], " has shape ",
               shape_str(a.inputs[i].shape), " but x ", shape_str(x), " has ", c,
               " channels (expected ", shape_str({c}), ")");
    expect_param_dtype(a, 1, i);
    if (i > 2) infer::expect_same_dtype(a, 2, i);
  }
  // grad_weight and grad_bias in the parameters' dtype.
  const TensorMeta stat{{c}, a.inputs[2].dtype, a.inputs[1].device};
  return {a.inputs[1], stat, stat};
}

}  // namespace

DUET_DEFINE_OP(batch_norm_backward_op, {.id = OpId::batch_norm_backward,
                                        .num_inputs = 5,
                                        .num_outputs = 3,
                                        .traits = static_cast<uint32_t>(OpTrait::backward),
                                        .infer = batch_norm_backward_infer,
                                        .kernels = {cpu_kernels::batch_norm_backward},
                                        .samples = batch_norm_backward_samples})

namespace {

// ---------------------------------------------------------------------------------------
// channel_affine: x (N, C, ...), scale (C), shift (C) -> x * scale[c] + shift[c]

std::vector<TensorMeta> channel_affine_infer(const InferArgs& a) {
  infer::expect_floating(a, 0);
  const int64_t c = channels(a.op, a.inputs[0].shape);
  expect_channel_vector(a, 1, "scale", c);
  expect_channel_vector(a, 2, "shift", c);
  infer::expect_same_dtype(a, 1, 2);  // scale and shift: one dtype
  return {a.inputs[0]};
}

std::vector<Tensor> channel_affine_grad(const GradArgs& g) {
  const Tensor& go = g.grad_outputs[0];
  const Shape& xs = g.input_metas[0].shape;
  const Shape b = channel_bshape(xs);
  const Shape c{xs[1]};
  std::vector<Tensor> r(3);
  if (g.needs_input_grad[0]) r[0] = mul(go, reshape(g.inputs[1], b));
  if (g.needs_input_grad[1]) r[1] = reshape(sum_to(mul(go, g.inputs[0]), b), c);
  if (g.needs_input_grad[2]) r[2] = reshape(sum_to(go, b), c);
  // float32 scale and shift beside a low-precision x: their gradients in float32 too.
  for (int i = 1; i < 3; ++i)
    if (r[i].defined() && r[i].dtype() != g.input_metas[i].dtype)
      r[i] = cast(r[i], g.input_metas[i].dtype);
  return r;
}

}  // namespace

DUET_DEFINE_OP(channel_affine_op,
               {.id = OpId::channel_affine,
                .num_inputs = 3,
                .infer = channel_affine_infer,
                .grad = channel_affine_grad,
                .save_inputs = 0b011,
                .kernels = {cpu_kernels::channel_affine},
                .inplace_input = 0,
                .samples = channel_affine_samples})

namespace {

// ---------------------------------------------------------------------------------------
// running_stat_update_: running (C) in place, stat (C); no outputs, no gradient.

std::vector<TensorMeta> running_stat_update_infer(const InferArgs& a) {
  infer::expect_floating(a, 0);
  DUET_CHECK(a.inputs[0].shape == a.inputs[1].shape, a.op, ": running has shape ",
             shape_str(a.inputs[0].shape), " but stat has shape ", shape_str(a.inputs[1].shape),
             " (expected equal)");
  infer::expect_same_dtype(a, 0, 1);
  return {};
}

}  // namespace

DUET_DEFINE_OP(running_stat_update_op, {.id = OpId::running_stat_update_,
                                        .num_inputs = 2,
                                        .num_outputs = 0,
                                        .infer = running_stat_update_infer,
                                        .mutates_inputs = 0b01,
                                        .nondiff_inputs = 0b11,
                                        .kernels = {cpu_kernels::running_stat_update},
                                        .samples = running_stat_update_samples})

namespace {

// A (C) parameter or running statistic of batch_norm, when given, must match x.
void check_param(const Tensor& t, const char* what, const Tensor& x) {
  if (!t.defined()) return;
  const int64_t c = x.shape()[1];
  DUET_CHECK(t.shape() == Shape{c}, "batch_norm: ", what, " has shape ", shape_str(t.shape()),
             " but x ", shape_str(x.shape()), " has ", c, " channels (expected ", shape_str({c}),
             ")");
  DUET_CHECK(param_dtype_ok(x.dtype(), t.dtype()), "batch_norm: ", what, " has dtype ",
             t.dtype(), " but x has dtype ", x.dtype(),
             " (expected the same dtype, or float32 with a bfloat16 or float16 x)");
}

}  // namespace

std::vector<Tensor> batch_norm_train(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                     double eps, std::source_location loc) {
  LocationScope scope(loc);
  return call_op(batch_norm_train_op(), {x, weight, bias}, Attrs().set("eps", eps));
}

std::vector<Tensor> batch_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight,
                                        const Tensor& mean, const Tensor& invstd,
                                        std::source_location loc) {
  LocationScope scope(loc);
  return call_op(batch_norm_backward_op(), {grad_y, x, weight, mean, invstd});
}

Tensor channel_affine(const Tensor& x, const Tensor& scale, const Tensor& shift,
                      std::source_location loc) {
  LocationScope scope(loc);
  return call_op1(channel_affine_op(), {x, scale, shift});
}

void running_stat_update_(const Tensor& running, const Tensor& stat, double momentum,
                          double correction, std::source_location loc) {
  LocationScope scope(loc);
  call_op(running_stat_update_op(), {running, stat},
          Attrs().set("momentum", momentum).set("correction", correction));
}

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                  const Tensor& running_mean, const Tensor& running_var, bool training,
                  double momentum, double eps, std::source_location loc) {
  LocationScope scope(loc);
  DUET_CHECK(x.defined(), "batch_norm: x is an undefined tensor");
  const int64_t c = channels("batch_norm", x.shape());
  check_param(weight, "weight", x);
  check_param(bias, "bias", x);
  check_param(running_mean, "running_mean", x);
  check_param(running_var, "running_var", x);
  DUET_CHECK(eps > 0, "batch_norm: eps = ", eps, " (expected > 0)");

  if (training) {
    const int64_t n = c > 0 ? x.numel() / c : 0;  // values per channel
    DUET_CHECK(n > 1,
               "batch_norm: expected more than 1 value per channel when training, got x "
               "of shape ",
               shape_str(x.shape()));
    // No affine: constant ones / zeros (they never require grad, so the tape ignores them).
    Tensor w = weight.defined() ? weight : Tensor::ones({c}, x.dtype(), x.device());
    Tensor b = bias.defined() ? bias : Tensor::zeros({c}, x.dtype(), x.device());
    std::vector<Tensor> r = batch_norm_train(x, w, b, eps);
    if (running_mean.defined() || running_var.defined()) {
      NoGradGuard no_grad;
      if (running_mean.defined()) running_stat_update_(running_mean, r[1], momentum);
      if (running_var.defined())
        running_stat_update_(running_var, r[3], momentum,
                             static_cast<double>(n) / static_cast<double>(n - 1));
    }
    return r[0];
  }

  DUET_CHECK(running_mean.defined() && running_var.defined(),
             "batch_norm: inference (training = false) needs running_mean and running_var, got ",
             running_mean.defined() ? "" : "an undefined running_mean ",
             running_var.defined() ? "" : "an undefined running_var ",
             "(expected both defined, of shape ", shape_str({c}), ")");
  Tensor scale = rsqrt(add(running_var, eps));
  if (weight.defined()) scale = mul(scale, weight);
  Tensor shift = neg(mul(running_mean, scale));
  if (bias.defined()) shift = add(shift, bias);
  return channel_affine(x, scale, shift);
}

}  // namespace duet
